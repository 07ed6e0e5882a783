"""Jobs on the embedded Kubernetes cluster, through the public API: a lifecycle job runs as a Job whose output
reaches the service logs, a failing one reports its exit code and output, a cron job is a native CronJob that
runs on its schedule (its output in the service logs too) and is suspended by stop; uninstall leaves nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from slipway_stack.kube.testing import KubeCluster
from slipway_stack.testing import RunningStack
from tests.e2e_world import _frames, until, ws_url
from tests.test_kubernetes_deploy import KubeWorld, started

pytestmark = pytest.mark.stack


class JobWorld(KubeWorld):
    """An environment on `local-kubernetes` with jobs from an image pushed to the organization's registry."""

    def setup(self) -> None:  # no application: only the environment, and the job image
        self.on_kubernetes("jobs")
        registry = self.registry_image("k8s-job:1", '["sh", "-c", "echo default command"]')
        self.source = {"image": {"image_name": "k8s-job", "tag": "1", "registry_id": registry["id"]}}
        # the every-minute cron job is deployed first: its first run waits for the next minute, during the other
        # tests of the module rather than at the cron test's own pace (checked by test_a_cron_job_is_…)
        self.tick = self.job("tick", {"cronjob": {"scheduled_at": "* * * * *", "timezone": "Etc/UTC"}})
        self.tick_deploy = self.ok(self.api.post(f"/job/{self.tick['id']}/deploy", json={}), 202)

    def job(self, name: str, schedule: dict[str, Any]) -> dict[str, Any]:
        body = {"name": name, "source": self.source, "schedule": schedule, "healthchecks": {}}
        return self.ok(self.api.post(f"/environment/{self.env['id']}/job", json=body), 201)  # type: ignore[no-any-return]

    def of(self, kind: str, service_id: str) -> list[dict[str, Any]]:
        paths = {
            "jobs": "/apis/batch/v1",
            "cronjobs": "/apis/batch/v1beta1",
            "pods": "/api/v1",
            "secrets": "/api/v1",
        }
        found = self.kube(
            f"{paths[kind]}/namespaces/{self.namespace}/{kind}?labelSelector=slipway.dev/service-id={service_id}"
        )
        return list((found or {"items": []})["items"])

    def service_output(self, service_id: str, wanted: str, timeout: float = 90) -> list[str]:
        """The service's log lines through the gateway's websocket, until one contains `wanted`."""
        ids = {
            "organization": self.org,
            "project": self.env["project"]["id"],
            "environment": self.env["id"],
            "cluster": self.cluster_id,
            "service": service_id,
        }
        frames = asyncio.run(
            _frames(
                ws_url(self, "/service/logs", **ids),
                self.stack.token,
                lambda f: wanted in str(f.get("message", "")),
                timeout=timeout,
            )
        )
        return [str(f.get("message", "")) for f in frames]


@pytest.fixture(scope="module")
def jobs(stack: RunningStack, kubernetes: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobWorld]:
    yield from started(JobWorld, stack, kubernetes, tmp_path_factory)


def test_a_lifecycle_job_runs_as_a_job_and_its_output_reaches_the_service_logs(jobs: JobWorld) -> None:
    written = '{"SCHEMA": {"value": "v7", "sensitive": false}, "DB_TOKEN": {"value": "k8s-s3cret", "sensitive": true}}'
    schedule = {
        "on_start": {
            "arguments": [
                "sh",
                "-c",
                f"echo migrated up; echo second line; echo '{written}' > /qovery-output/qovery-output.json",
            ]
        },
        "on_delete": {"arguments": ["sh", "-c", "echo cleaned up"]},
    }
    job = jobs.job("migrate", schedule)
    queued = jobs.ok(jobs.api.post(f"/job/{job['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(queued["execution_id"], timeout=300) == "DEPLOYED", jobs.deployment_log(
        queued["execution_id"]
    )[-2000:]
    runs = jobs.of("jobs", job["id"])
    assert len(runs) == 1
    spec = runs[0]["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] > 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert runs[0]["metadata"]["labels"]["slipway.dev/organization-id"] == jobs.org
    assert int(runs[0]["status"]["succeeded"]) == 1
    lines = jobs.service_output(job["id"], "second line")
    assert any("migrated up" in line for line in lines) and not any("default command" in x for x in lines), lines
    # its output file became variables of the environment, the sensitive one a secret shown nowhere
    listed = jobs.ok(jobs.api.get("/variable", params={"parent_id": job["id"], "scope": "JOB"}))
    head = f"QOVERY_OUTPUT_JOB_Z{job['id'].replace('-', '')[:8].upper()}"
    outputs = {v["key"]: v for v in listed["results"] if v["key"].startswith(head)}
    assert set(outputs) == {f"{head}_SCHEMA", f"{head}_DB_TOKEN"}, sorted(outputs)
    assert outputs[f"{head}_SCHEMA"]["value"] == "v7" and outputs[f"{head}_DB_TOKEN"]["is_secret"]
    assert "k8s-s3cret" not in str(listed) and "k8s-s3cret" not in jobs.deployment_log(queued["execution_id"])
    # a second deploy replaces the run: one Job, the new one
    again = jobs.ok(jobs.api.post(f"/job/{job['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(again["execution_id"], timeout=300) == "DEPLOYED"
    runs_after = jobs.of("jobs", job["id"])
    assert len(runs_after) == 1 and runs_after[0]["metadata"]["name"] != runs[0]["metadata"]["name"]
    removed = jobs.ok(jobs.api.post(f"/job/{job['id']}/uninstall", json={}), 202)
    assert jobs.wait_terminal(removed["execution_id"], timeout=300) == "DELETED"
    assert "running the delete lifecycle job" in jobs.deployment_log(removed["execution_id"])
    until(lambda: not jobs.of("jobs", job["id"]) and not jobs.of("pods", job["id"]), 60, "the job's runs to go")
    assert not jobs.of("secrets", job["id"])


def test_a_failing_lifecycle_job_reports_its_exit_code_and_output(jobs: JobWorld) -> None:
    job = jobs.job("broken", {"on_start": {"arguments": ["sh", "-c", "echo about to fail >&2; exit 3"]}})
    queued = jobs.ok(jobs.api.post(f"/job/{job['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(queued["execution_id"], timeout=300) == "DEPLOYMENT_ERROR"
    text = jobs.deployment_log(queued["execution_id"])
    assert "exited with code 3" in text and "about to fail" in text, text[-2000:]
    assert jobs.ok(jobs.api.get(f"/job/{job['id']}/status"))["state"] == "DEPLOYMENT_ERROR"
    # a malformed output file fails a run that exited 0, naming the problem
    bad = jobs.job(
        "bad-output", {"on_start": {"arguments": ["sh", "-c", "echo '[1]' > /qovery-output/qovery-output.json"]}}
    )
    queued = jobs.ok(jobs.api.post(f"/job/{bad['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(queued["execution_id"], timeout=300) == "DEPLOYMENT_ERROR"
    text = jobs.deployment_log(queued["execution_id"])
    assert "/qovery-output/qovery-output.json must be an object" in text, text[-2000:]


def test_a_cron_job_is_a_cron_job_that_runs_and_stop_suspends_it(jobs: JobWorld) -> None:
    paris = jobs.job("paris", {"cronjob": {"scheduled_at": "0 3 * * *", "timezone": "Europe/Paris"}})
    queued = jobs.ok(jobs.api.post(f"/job/{paris['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(queued["execution_id"]) == "DEPLOYMENT_ERROR"
    assert "runs cron jobs in UTC only" in jobs.deployment_log(queued["execution_id"])

    tick, queued = jobs.tick, jobs.tick_deploy  # deployed when the module started
    assert jobs.wait_terminal(queued["execution_id"]) == "DEPLOYED", jobs.deployment_log(queued["execution_id"])
    crons = jobs.of("cronjobs", tick["id"])
    assert len(crons) == 1 and crons[0]["spec"]["schedule"] == "* * * * *"
    assert crons[0]["spec"]["concurrencyPolicy"] == "Forbid" and crons[0]["spec"]["suspend"] is False
    # the cluster runs it at the next minute: its output reaches the service logs
    lines = jobs.service_output(tick["id"], "default command", timeout=150)
    assert any("default command" in line for line in lines)
    until(lambda: any(int(j.get("status", {}).get("succeeded") or 0) for j in jobs.of("jobs", tick["id"])), 60)
    until(lambda: jobs.ok(jobs.api.get(f"/job/{tick['id']}/status"))["state"] == "DEPLOYED", 30, "DEPLOYED")
    # the run is in the deployment history, with its outcome and its output, written once

    def cron_runs() -> list[dict[str, Any]]:
        return [h for h in jobs.history() if h["auditing_data"]["triggered_by"].startswith("CronJob run ")]

    runs = until(cron_runs, 60, "the cron run in the deployment history")
    names = [r["auditing_data"]["triggered_by"] for r in runs]
    assert len(set(names)) == len(names), names  # each of the CronJob's runs once (a minute may have passed)
    run = runs[-1]
    assert run["status"] == "DEPLOYED" and run["auditing_data"]["origin"] == "QOVERY_INTERNAL", run
    text = jobs.deployment_log(run["identifier"]["execution_id"])
    assert "its CronJob ran" in text and "default command" in text and "succeeded" in text, text
    # the module's other tests added environment variables (job outputs) since it was deployed: a redeploy rolls
    # them in (a new checksum); then an unchanged redeploy writes nothing (the controller's status updates move its
    # resourceVersion)
    refreshed = jobs.ok(jobs.api.post(f"/job/{tick['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(refreshed["execution_id"]) == "DEPLOYED"
    spec = jobs.of("cronjobs", tick["id"])[0]["spec"]
    again = jobs.ok(jobs.api.post(f"/job/{tick['id']}/deploy", json={}), 202)
    assert jobs.wait_terminal(again["execution_id"]) == "DEPLOYED"
    assert jobs.of("cronjobs", tick["id"])[0]["spec"] == spec
    assert "Kubernetes API requests, 0 writes" in jobs.deployment_log(again["execution_id"])
    stopped = jobs.ok(jobs.api.post(f"/job/{tick['id']}/stop", json={}), 202)
    assert jobs.wait_terminal(stopped["execution_id"]) == "STOPPED"
    assert jobs.of("cronjobs", tick["id"])[0]["spec"]["suspend"] is True
    removed = jobs.ok(jobs.api.post(f"/job/{tick['id']}/uninstall", json={}), 202)
    assert jobs.wait_terminal(removed["execution_id"]) == "DELETED"
    until(
        lambda: (
            not jobs.of("cronjobs", tick["id"]) and not jobs.of("jobs", tick["id"]) and not jobs.of("pods", tick["id"])
        ),
        60,
        "the cron job and its runs to go",
    )


def test_deleting_the_environment_leaves_nothing_on_kubernetes(jobs: JobWorld) -> None:
    assert jobs.kube(f"/api/v1/namespaces/{jobs.namespace}") is not None  # the failed job's run is still there
    jobs.ok(jobs.api.delete(f"/environment/{jobs.env['id']}"), 204)
    until(lambda: jobs.kube(f"/api/v1/namespaces/{jobs.namespace}") is None, 180, "the namespace to go")
