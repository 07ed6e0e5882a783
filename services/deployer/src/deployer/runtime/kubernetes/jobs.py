"""Jobs on Kubernetes: a lifecycle job's run is a Job followed to completion, a cron job a native CronJob.

A run's Job is named after the service and the deployment (`<internal host>-<run>`); the previous runs of the
service are deleted first (their pods with them), so a job keeps its last run's pod and logs, as on the docker
engine. `backoffLimit` 0 (a failed run is reported, not retried behind the user's back), `activeDeadlineSeconds`
the job's maximum duration, `ttlSecondsAfterFinished` where the cluster's TTL controller honours it. A CronJob
runs the same pod template on its schedule, one run at a time (`concurrencyPolicy: Forbid`); stopping the job
suspends it.

A lifecycle run's outputs (/qovery-output/qovery-output.json) come back through the container's termination
message: the kubelet mounts a writable file at that path and, once the container ended, copies it into the pod's
status — at most 4096 bytes, so a larger file fails the run with that limit named.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from deployer.runtime.base import LogSink, RolloutFailed
from deployer.runtime.kubernetes import manifests as M
from deployer.runtime.kubernetes.api import KubeApi, kind_of
from deployer.runtime.kubernetes.rollout import HINTS, last_output
from slipway.desired import DesiredState, ServiceSpec
from slipway.joboutput import OUTPUT_FILE, OutputError, OutputValue, parse

JOBS = kind_of("batch/v1", "Job")
PODS = kind_of("v1", "Pod")
L_RUN = M.L + "run-id"
L_RECORDED = M.L + "recorded"  # a CronJob's run already written to the deployment history
FINISHED_TTL = 24 * 3600  # a finished run's Job is kept a day at most (the next run replaces it anyway)
UTC_ZONES = ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z")
MAX_MESSAGE = 4096  # the kubelet keeps this much of a termination message file (its last bytes)


def run_name(service: ServiceSpec, run_id: str) -> str:
    """`<internal host>-<10 hex>`: unique per run, within the 63 characters a pod label value allows."""
    return f"{M.workload_name(service)[:48]}-{hashlib.sha256(run_id.encode()).hexdigest()[:10]}"


def job_spec(
    state: DesiredState, service: ServiceSpec, image: str, installation: str, pull: list[str], timeout: int
) -> dict[str, Any]:
    template = M.pod_template(state, service, image, installation, pull, 10)
    container = template["spec"]["containers"][0]
    for key in ("readinessProbe", "livenessProbe", "ports"):
        container.pop(key, None)  # a job serves nothing: nothing to probe
    template["spec"]["restartPolicy"] = "Never"
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": max(int(timeout), 1),
        "ttlSecondsAfterFinished": FINISHED_TTL,
        "template": template,
    }


def job(
    state: DesiredState,
    service: ServiceSpec,
    image: str,
    installation: str,
    pull: list[str],
    timeout: int,
    run_id: str,
) -> dict[str, Any]:
    spec = job_spec(state, service, image, installation, pull, timeout)
    spec["template"]["metadata"]["labels"][L_RUN] = run_id[:63]
    container = spec["template"]["spec"]["containers"][0]
    container["terminationMessagePath"] = OUTPUT_FILE  # the run's outputs, handed back by the kubelet
    container["terminationMessagePolicy"] = "File"
    meta = {
        "name": run_name(service, run_id),
        "namespace": M.namespace_of(state),
        "labels": {**M.service_labels(state, service, installation), L_RUN: run_id[:63]},
        "annotations": {M.A_NAME: service.name[:253]},
    }
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def cron_job(
    state: DesiredState,
    service: ServiceSpec,
    image: str,
    installation: str,
    pull: list[str],
    timeout: int,
    api_version: str,
    suspend: bool = False,
) -> dict[str, Any]:
    """The job on its schedule (the cluster's time zone is UTC before Kubernetes 1.25's `timeZone`)."""
    assert service.job is not None
    spec: dict[str, Any] = {
        "schedule": service.job.cron or "",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "suspend": suspend,
        "jobTemplate": {
            "metadata": {"labels": M.service_labels(state, service, installation)},
            "spec": job_spec(state, service, image, installation, pull, timeout),
        },
    }
    return {
        "apiVersion": api_version,
        "kind": "CronJob",
        "metadata": {
            "name": M.workload_name(service),
            "namespace": M.namespace_of(state),
            "labels": M.service_labels(state, service, installation),
            "annotations": {M.A_NAME: service.name[:253]},
        },
        "spec": spec,
    }


def check_time_zone(service: ServiceSpec, minor: int) -> None:
    """Kubernetes before 1.25 runs CronJobs in the controller manager's time zone (UTC): refuse any other."""
    zone = service.job.timezone if service.job else "Etc/UTC"
    if minor < 25 and zone not in UTC_ZONES:
        raise RolloutFailed(
            f"{service.name}: this cluster (Kubernetes 1.{minor}) runs cron jobs in UTC only; set the job's "
            f"timezone to Etc/UTC (and its schedule in UTC) instead of {zone}"
        )


def _failed(status: dict[str, Any]) -> dict[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return dict(condition)
    return None


async def wait_finished(
    api: KubeApi, namespace: str, name: str, service: ServiceSpec, limit: float, sink: LogSink
) -> None:
    """Until the Job succeeds; RolloutFailed with its cause, a hint and the pod's last output otherwise."""
    started, delay, said = time.monotonic(), 0.1, ""
    while True:
        found = await api.get(JOBS, namespace, name)
        if found is None:
            raise RolloutFailed(f"{service.name}: its Job {name} was deleted while it ran")
        status = found.get("status", {})
        if int(status.get("succeeded") or 0) > 0:
            return
        pods = (await api.list(PODS, namespace, f"job-name={name}"))["items"]
        failed = _failed(status)
        if failed is not None:
            output = await _output(api, namespace, pods)
            reason = {"DeadlineExceeded": f"did not finish within {limit:g}s"}.get(
                str(failed.get("reason")), f"{failed.get('reason')}: {failed.get('message')}"
            )
            raise RolloutFailed(f"job {reason}{_exit(pods)}\n{output}".strip())
        for pod in pods:
            for c in pod.get("status", {}).get("containerStatuses") or []:
                waiting = (c.get("state") or {}).get("waiting") or {}
                cause = waiting.get("reason")
                if cause in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"):
                    raise RolloutFailed(f"{cause}: {waiting.get('message') or ''} — {HINTS[cause]}")
        phase = next((p.get("status", {}).get("phase") for p in pods), None) or "Pending"
        if phase != said:
            await sink(f"{service.name}: job {name} {phase.lower()}")
            said = phase
        if time.monotonic() - started > limit + 60:  # the Job's own deadline should have ended it
            raise RolloutFailed(f"job did not finish within {limit:g}s")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)


async def outputs(api: KubeApi, namespace: str, name: str) -> dict[str, OutputValue] | None:
    """What the finished run `name` wrote to its output file (None: nothing); RolloutFailed when malformed."""
    pods = (await api.list(PODS, namespace, f"job-name={name}"))["items"]
    for pod in pods:
        for c in pod.get("status", {}).get("containerStatuses") or []:
            message = ((c.get("state") or {}).get("terminated") or {}).get("message") or ""
            raw = message.encode()
            if not raw.strip():
                continue
            if len(raw) >= MAX_MESSAGE:
                raise RolloutFailed(
                    f"{OUTPUT_FILE} is {MAX_MESSAGE} bytes or more: on Kubernetes a job's outputs are read from its "
                    f"termination message, which the kubelet cuts at {MAX_MESSAGE} bytes"
                )
            try:
                return parse(raw)
            except OutputError as exc:
                raise RolloutFailed(str(exc)) from None
    return None


def _exit(pods: list[dict[str, Any]]) -> str:
    for pod in pods:
        for c in pod.get("status", {}).get("containerStatuses") or []:
            done = (c.get("state") or {}).get("terminated")
            if done and done.get("exitCode") is not None:
                return f" (exited with code {done['exitCode']})"
    return ""


async def _output(api: KubeApi, namespace: str, pods: list[dict[str, Any]]) -> str:
    for pod in pods:
        text = await last_output(api, namespace, pod["metadata"]["name"], previous=False)
        if text:
            return text
    return ""


def job_status(jobs: list[dict[str, Any]], pods: list[dict[str, Any]]) -> str:
    """A job service's state from its last run: RUNNING, COMPLETED, ERROR, or STOPPED when it never ran."""
    if not jobs:
        return "STOPPED"
    last = max(jobs, key=lambda j: j["metadata"].get("creationTimestamp") or "")
    status = last.get("status", {})
    if int(status.get("succeeded") or 0) > 0:
        return "COMPLETED"
    if _failed(status) is not None:
        return "ERROR"
    if any(p.get("status", {}).get("phase") == "Running" for p in pods):
        return "RUNNING"
    return "STARTING"


@dataclass(frozen=True)
class CronRun:
    """A finished run of a CronJob, to be written to the deployment history."""

    namespace: str
    job: str
    environment_id: str
    service_id: str
    succeeded: bool
    reason: str
    output: str


async def finished_cron_runs(api: KubeApi, installation: str) -> list[CronRun]:
    """The CronJobs' runs that ended and are not in the history yet (lifecycle runs carry a run id: not these)."""
    selector = f"{M.L_MANAGED}={M.MANAGED_BY},{M.L_INSTALLATION}={installation},{M.L_KIND}=JOB,!{L_RUN},!{L_RECORDED}"
    runs: list[CronRun] = []
    for item in (await api.list(JOBS, None, selector))["items"]:
        status, meta = item.get("status", {}), item["metadata"]
        failed = _failed(status)
        if not int(status.get("succeeded") or 0) and failed is None:
            continue  # still running
        namespace, name, labels = meta["namespace"], meta["name"], meta.get("labels", {})
        pods = (await api.list(PODS, namespace, f"job-name={name}"))["items"]
        reason = ""
        if failed is not None:
            reason = {"DeadlineExceeded": "did not finish within its maximum duration"}.get(
                str(failed.get("reason")), f"{failed.get('reason')}: {failed.get('message')}"
            ) + _exit(pods)
        service_id, environment_id = labels.get(M.L_SERVICE, ""), labels.get(M.L_ENV, "")
        output = await _output(api, namespace, pods)
        runs.append(CronRun(namespace, name, environment_id, service_id, failed is None, reason, output))
    return runs


async def mark_recorded(api: KubeApi, run: CronRun) -> None:
    await api.patch(JOBS, run.namespace, run.job, {"metadata": {"labels": {L_RECORDED: "true"}}})
