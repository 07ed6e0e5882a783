"""Git → build → deploy → public URL on the real stack (Podman, Caddy, builder, deployer), through the public API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slipway_stack.qovery_spec import check
from slipway_stack.testing import RunningStack
from tests.e2e_world import (
    BROKEN,
    DOCKERFILE,
    SLOW,
    TERMINAL,
    Prober,
    Repo,
    World,
    _frames,
    build_image,
    until,
    ws_url,
)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def world(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    repo = Repo(tmp_path_factory.mktemp("repo"))
    w = World(stack, repo)
    w.setup()
    yield w
    w.api.post(f"/environment/{w.env['id']}/uninstall", json={})


def test_git_to_url(world: World) -> None:
    queued = world.deploy(world.first)
    assert queued["state"] == "DEPLOYMENT_QUEUED" and queued["execution_id"].startswith(world.env["id"] + "-")
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED", world.stack.log("deployer")[-3000:]
    page = world.get()
    assert page.status_code == 200 and page.text.strip() == "v1"
    assert world.get("/greeting.txt").text.strip() == "hello"
    status = world.status()
    assert status["state"] == "DEPLOYED" and status["service_deployment_status"] == "UP_TO_DATE"


def test_unchanged_redeploy_touches_nothing(world: World) -> None:
    before = sorted(c["Id"] for c in world.containers())
    queued = world.ok(world.api.post(f"/application/{world.app['id']}/redeploy"), 202)
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED"
    assert sorted(c["Id"] for c in world.containers()) == before


def test_variable_change_rolls_out_without_a_failed_request(world: World) -> None:
    variables = world.ok(world.api.get("/variable", params={"parent_id": world.app["id"], "scope": "APPLICATION"}))
    greeting = next(v for v in variables["results"] if v["key"] == "GREETING")
    world.ok(world.api.put(f"/variable/{greeting['id']}", json={"key": "GREETING", "value": "bonjour"}))
    with Prober(world.edge, world.host(), "/greeting.txt") as prober:
        queued = world.ok(world.api.post(f"/application/{world.app['id']}/redeploy"), 202)
        assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED"
        until(lambda: prober.served and prober.served[-1] == "bonjour", 20, "the new version to serve")
    failures, served = prober.failures, prober.served
    if failures:  # show the rollout's own timeline next to the failed requests
        lines = world.api.get(f"/environment/{world.env['id']}/logs", params={"version": queued["execution_id"]})
        timeline = [
            f"{x['timestamp']} {x['details']['stage']['step']} {x['message']['safe_message']}"
            for x in (lines.json() if lines.status_code == 200 else [])
        ]
        raise AssertionError(f"{failures[:5]}\n" + "\n".join(timeline))
    assert "hello" in served and served[-1] == "bonjour" and len(served) > 20


def test_deployment_and_service_logs_stream_live_and_mask_secrets(world: World, spec: dict[str, Any]) -> None:
    """Through the gateway: a client follows a deployment's lines live, then tails the service's output;
    a secret variable's value appears in neither; another organization's token is refused."""
    import asyncio

    import websockets

    secret = f"s3cr3t-{uuid.uuid4().hex}"
    world.ok(
        world.api.post(
            "/variable",
            json={
                "key": "API_TOKEN",
                "value": secret,
                "is_secret": True,
                "variable_scope": "APPLICATION",
                "variable_parent_id": world.app["id"],
            },
        ),
        201,
    )
    ids = {"organization": world.org, "project": world.env["project"]["id"], "environment": world.env["id"]}
    box: dict[str, Any] = {}

    def mine(frame: Any) -> bool:
        lines = frame if isinstance(frame, list) else []
        return any(
            line["details"].get("execution_id") == box.get("execution")
            and line["details"]["stage"]["step"] == "Deployed"
            and line["details"]["transmitter"]["id"] == world.app["id"]
            for line in lines
        )

    async def follow_a_deployment() -> list[Any]:
        reader = asyncio.create_task(_frames(ws_url(world, "/deployment/logs", **ids), world.stack.token, mine))
        await asyncio.sleep(1.0)  # connected and following before the deployment starts
        queued = world.ok(world.api.post(f"/application/{world.app['id']}/redeploy"), 202)
        box["execution"] = queued["execution_id"]
        return await reader

    frames = asyncio.run(follow_a_deployment())
    lines = [line for frame in frames for line in frame if line["details"]["execution_id"] == box["execution"]]
    steps = [line["details"]["stage"]["step"] for line in lines]
    assert "Build" in steps and "Deploy" in steps and "Deployed" in steps, steps
    assert steps.index("Deploy") < steps.index("Deployed")
    assert all(secret not in json.dumps(line) for line in lines)
    assert world.wait_terminal(box["execution"]) == "DEPLOYED"

    stored = check(
        spec,
        "listEnvironmentLogs",
        world.api.get(f"/environment/{world.env['id']}/logs", params={"version": box["execution"]}),
    )
    assert {line["message"]["safe_message"] for line in lines} <= {line["message"]["safe_message"] for line in stored}
    assert secret not in json.dumps(stored)

    # the running service's output, with the secret masked
    service_ids = {**ids, "cluster": world.env["cluster_id"], "service": world.app["id"]}

    def told(frame: Any) -> bool:  # the new instance printed its token (older instances had none)
        message = str(frame.get("message", ""))
        return "token is" in message and message.strip() != "token is"

    tail = asyncio.run(_frames(ws_url(world, "/service/logs", **service_ids), world.stack.token, told, timeout=60))
    printed = [f["message"] for f in tail if told(f)]
    assert printed and all("***" in m and secret not in m for m in printed), printed
    assert secret not in json.dumps(tail)
    assert all(isinstance(f["created_at"], int) and f["pod_name"] for f in tail)

    # a token of another organization sees nothing: the stream closes with 1007 (permission denied)
    from iam.roles import policy

    other = world.ok(world.api.post("/organization", json={"name": "outsiders", "plan": "FREE"}), 201)["id"]
    token = world.ok(
        world.api.post(f"/organization/{other}/apiToken", json={"name": "viewer", "role_id": str(policy.VIEWER)}), 201
    )["token"]

    async def refused(path: str, params: dict[str, str]) -> int | None:
        async with websockets.connect(
            ws_url(world, path, **params), additional_headers={"Authorization": f"Token {token}"}
        ) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(refused("/deployment/logs", ids)) == 1007
    assert asyncio.run(refused("/service/logs", service_ids)) == 1007


def test_broken_version_rolls_back_and_old_keeps_serving(world: World) -> None:
    broken = world.repo.commit(BROKEN, "v2-broken")
    queued = world.deploy(broken)
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYMENT_ERROR"
    assert world.get().text.strip() == "v1"
    assert len([c for c in world.containers() if c["State"] == "running"]) == 1


def test_deploying_an_older_commit_is_the_rollback(world: World) -> None:
    third = world.repo.commit(DOCKERFILE, "v3")
    assert world.wait_terminal(world.deploy(third)["execution_id"]) == "DEPLOYED"
    assert world.get().text.strip() == "v3"
    assert world.wait_terminal(world.deploy(world.first)["execution_id"]) == "DEPLOYED"
    assert world.get().text.strip() == "v1"


def test_cancel_mid_build_leaves_the_old_version_and_no_build_container(world: World) -> None:
    listed: list[set[str]] = []

    def listing() -> bool:
        now = world.build_containers()
        if now is not None:
            listed.append(now)
        return now is not None

    until(listing, 30, "the engine's container list")  # may be empty: it is the list we want, not its content
    before = listed[-1]
    slow = world.repo.commit(SLOW, f"v4-slow-{uuid.uuid4().hex}")  # new content: never a cached build
    queued = world.deploy(slow)
    until(lambda: world.status()["state"] == "BUILDING", 60, "the build to start")

    def building() -> bool:
        now = world.build_containers()
        return now is not None and bool(now - before)

    until(building, 60, "the engine to run the slow build step")
    world.ok(world.api.post(f"/environment/{world.env['id']}/cancelDeployment", json={}), 202)
    assert world.wait_terminal(queued["execution_id"], 90) == "CANCELED"
    assert world.status()["state"] == "CANCELED"
    assert world.get().text.strip() == "v1"

    def cleaned() -> bool:
        now = world.build_containers()
        return now is not None and not (now - before)

    until(cleaned, 60, "the canceled build's working containers to go")


def test_killing_the_deployer_mid_rollout_ends_in_a_terminal_state(world: World) -> None:
    fourth = world.repo.commit(DOCKERFILE, "v5")
    queued = world.deploy(fourth)
    until(lambda: world.status()["state"] in ("BUILDING", "DEPLOYING"), 60, "the deployment to start")
    pid = int((world.stack.state_dir / "run" / "deployer.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    world.stack.cli("up")  # restarts what is missing
    final = world.wait_terminal(queued["execution_id"], 240)
    assert final == "DEPLOYED"
    assert world.get().text.strip() == "v5"
    assert world.status()["state"] == "DEPLOYED"


def test_deployer_operations_match_the_spec(world: World, spec: dict[str, Any]) -> None:
    """Every deployer operation a client uses answers Qovery's codes and schemas (strict Go clients)."""
    api, app, env = world.api, world.app["id"], world.env["id"]
    check(spec, "getApplicationStatus", api.get(f"/application/{app}/status"))
    check(spec, "getEnvironmentStatus", api.get(f"/environment/{env}/status"))
    check(spec, "getEnvironmentStatuses", api.get(f"/environment/{env}/statuses"))
    check(spec, "getEnvironmentStatusesWithStages", api.get(f"/environment/{env}/statusesWithStages"))
    check(spec, "listEnvironmentDeploymentHistory", api.get(f"/environment/{env}/deploymentHistory"))
    history = check(spec, "listEnvironmentDeploymentHistoryV2", api.get(f"/environment/{env}/deploymentHistoryV2"))
    assert [h["identifier"]["execution_id"] for h in history["results"]] == sorted(
        (h["identifier"]["execution_id"] for h in history["results"]), key=lambda e: -int(e.rsplit("-", 1)[1])
    )
    check(spec, "listApplicationDeploymentHistoryV2", api.get(f"/application/{app}/deploymentHistoryV2"))

    # a container from a locally built image, through every action
    registry = api.get(f"/organization/{world.org}/containerRegistry").json()["results"][0]
    host = registry["url"].removeprefix("https://").removeprefix("http://").rstrip("/")
    build_image(world.engine, f"{host}/e2e-box:1")
    body = {
        "name": "box",
        "registry_id": registry["id"],
        "image_name": "e2e-box",
        "tag": "1",
        "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
        "healthchecks": {
            "readiness_probe": {
                "type": {"tcp": {"port": 8080}},
                "initial_delay_seconds": 0,
                "period_seconds": 1,
                "failure_threshold": 10,
            }
        },
    }
    box = world.ok(api.post(f"/environment/{env}/container", json=body), 201)["id"]
    deployed = check(spec, "deployContainer", api.post(f"/container/{box}/deploy", json={"image_tag": "1"}))
    assert world.wait_terminal(deployed["execution_id"]) == "DEPLOYED"
    check(spec, "getContainerStatus", api.get(f"/container/{box}/status"))
    check(spec, "listContainerDeploymentHistoryV2", api.get(f"/container/{box}/deploymentHistoryV2"))
    bad = api.post(f"/container/{box}/deploy", json={})
    assert bad.status_code == 400 and "image_tag" in bad.json()["detail"]
    assert api.post(f"/application/{box}/deploy", json={"git_commit_id": world.first}).status_code == 404
    # the route decides the kind and the action; nothing in the query can change them
    assert api.post(f"/container/{app}/stop", params={"_kind": "APPLICATION", "kind": "APPLICATION"}).status_code == 404
    for operation, verb, final in (
        ("rebootContainer", "restart-service", "RESTARTED"),
        ("stopContainer", "stop", "STOPPED"),
        ("redeployContainer", "redeploy", "DEPLOYED"),
    ):
        queued = check(spec, operation, api.post(f"/container/{box}/{verb}"))
        assert world.wait_terminal(queued["execution_id"]) == final, operation
    every = {"containers": [{"id": box, "image_tag": "1"}]}
    queued = check(spec, "deployAllServices", api.post(f"/environment/{env}/service/deploy", json=every))
    assert queued["id"] == env
    assert api.post(f"/environment/{env}/service/deploy", json={"containers": [{"id": app}]}).status_code == 400
    conflict = api.post(f"/environment/{env}/service/deploy", json=every)
    assert conflict.status_code in (202, 409)  # identical while still queued: 409
    until(lambda: api.get(f"/environment/{env}/status").json()["state"] in TERMINAL, 120, "the queue to drain")
    nothing = api.post(f"/environment/{env}/cancelDeployment", json={})
    assert nothing.status_code == 409
    removed = check(spec, "uninstallContainer", api.post(f"/container/{box}/uninstall", json={}))
    assert world.wait_terminal(removed["execution_id"]) == "DELETED"
    assert not [c for c in world.containers_of(box) if c["State"] == "running"]


def test_lifecycle_jobs_run_on_their_events_and_cron_jobs_are_scheduled(world: World, spec: dict[str, Any]) -> None:
    api, env = world.api, world.env["id"]
    registry = api.get(f"/organization/{world.org}/containerRegistry").json()["results"][0]
    host = registry["url"].removeprefix("https://").removeprefix("http://").rstrip("/")
    build_image(world.engine, f"{host}/e2e-job:1", '["sh", "-c", "echo default command"]')
    source = {"image": {"image_name": "e2e-job", "tag": "1", "registry_id": registry["id"]}}
    lifecycle = {
        "on_start": {"arguments": ["sh", "-c", "echo migrated up"]},
        "on_delete": {"arguments": ["sh", "-c", "echo cleaned up"]},
    }
    job = world.ok(
        api.post(
            f"/environment/{env}/job",
            json={"name": "migrate", "source": source, "schedule": lifecycle, "healthchecks": {}},
        ),
        201,
    )
    for event, why in (
        ("BOGUS", "forceEvent"), ("start", "forceEvent"), ("STOP", "does not run on STOP"), ("CRON", "lifecycle job"),
    ):  # fmt: skip
        r = api.post(f"/job/{job['id']}/deploy", params={"forceEvent": event}, json={})
        assert r.status_code == 400 and why in r.json()["detail"], (event, r.text)
    queued = check(spec, "deployJob", api.post(f"/job/{job['id']}/deploy", params={"forceEvent": "START"}, json={}))
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED"
    assert check(spec, "getJobStatus", api.get(f"/job/{job['id']}/status"))["state"] == "DEPLOYED"

    def output(service_id: str) -> str:
        texts = []
        for c in world.containers_of(service_id):
            r = world.engine.get(f"/containers/{c['Id']}/logs", params={"stdout": "true", "stderr": "true"})
            texts.append(r.content.decode(errors="replace"))
        return "\n".join(texts)

    assert "migrated up" in output(job["id"]) and "default command" not in output(job["id"])

    def logged(execution: str) -> list[str]:
        lines = api.get(f"/environment/{env}/logs", params={"version": execution}).json()
        return [x["message"]["safe_message"] for x in lines]

    # forceEvent runs that event now, as a deployment of its own (history, log with the job's output)
    forced = check(spec, "deployJob", api.post(f"/job/{job['id']}/deploy", params={"forceEvent": "DELETE"}, json={}))
    assert world.wait_terminal(forced["execution_id"]) == "DEPLOYED"
    text = "\n".join(logged(forced["execution_id"]))
    assert "running its DELETE event now" in text and "cleaned up" in text, text
    history = api.get(f"/job/{job['id']}/deploymentHistoryV2").json()["results"]
    assert forced["execution_id"] in [h["identifier"]["execution_id"] for h in history]
    removed = check(spec, "uninstallJob", api.post(f"/job/{job['id']}/uninstall", json={}))
    assert world.wait_terminal(removed["execution_id"]) == "DELETED"
    lines = api.get(f"/environment/{env}/logs", params={"version": removed["execution_id"]}).json()
    assert any("running the delete lifecycle job" in x["message"]["safe_message"] for x in lines)
    assert not world.containers_of(job["id"])  # it ran, then the uninstall removed it

    cron = {"cronjob": {"scheduled_at": "*/5 * * * *", "timezone": "Etc/UTC"}}
    nightly = world.ok(
        api.post(
            f"/environment/{env}/job", json={"name": "nightly", "source": source, "schedule": cron, "healthchecks": {}}
        ),
        201,
    )
    queued = check(spec, "deployJob", api.post(f"/job/{nightly['id']}/deploy", json={}))
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED"
    assert check(spec, "getJobStatus", api.get(f"/job/{nightly['id']}/status"))["state"] == "DEPLOYED"
    lines = api.get(f"/environment/{env}/logs", params={"version": queued["execution_id"]}).json()
    assert any(
        'nightly: scheduled "*/5 * * * *" (Etc/UTC), next run at ' in x["message"]["safe_message"] for x in lines
    ), [x["message"]["safe_message"] for x in lines]
    bad = api.post(f"/job/{nightly['id']}/deploy", params={"forceEvent": "START"}, json={})
    assert bad.status_code == 400 and "forceEvent=CRON" in bad.json()["detail"], bad.text
    run = check(spec, "deployJob", api.post(f"/job/{nightly['id']}/deploy", params={"forceEvent": "CRON"}, json={}))
    assert world.wait_terminal(run["execution_id"]) == "DEPLOYED"
    text = "\n".join(logged(run["execution_id"]))
    assert "its CRON event ran to completion" in text and "default command" in text, text
    assert 'nightly: scheduled "*/5 * * * *"' in text, "still scheduled after the forced run"
    # a run longer than the job's maximum duration is stopped and fails
    slow = {"on_start": {"arguments": ["sh", "-c", "echo begun; sleep 60"]}}
    body = {"name": "slow", "source": source, "schedule": slow, "healthchecks": {}, "max_duration_seconds": 2}
    slow_job = world.ok(api.post(f"/environment/{env}/job", json=body), 201)
    queued = check(spec, "deployJob", api.post(f"/job/{slow_job['id']}/deploy", json={}))
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYMENT_ERROR"
    text = "\n".join(logged(queued["execution_id"]))
    assert "maximum duration (2s)" in text and "begun" in text, text
    assert not [c for c in world.containers_of(slow_job["id"]) if c["State"] == "running"]
    world.ok(api.delete(f"/job/{slow_job['id']}"), 204)
    # a malformed output file fails the run, naming the problem
    broken = {"on_start": {"arguments": ["sh", "-c", "echo '{\"A\": 1}' > /qovery-output/qovery-output.json"]}}
    body = {"name": "broken", "source": source, "schedule": broken, "healthchecks": {}}
    broken_job = world.ok(api.post(f"/environment/{env}/job", json=body), 201)
    queued = check(spec, "deployJob", api.post(f"/job/{broken_job['id']}/deploy", json={}))
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYMENT_ERROR"
    text = "\n".join(logged(queued["execution_id"]))
    assert '/qovery-output/qovery-output.json: A must be {"value": "<string>"' in text, text
    world.ok(api.delete(f"/job/{broken_job['id']}"), 204)
    stopped = check(spec, "stopJob", api.post(f"/job/{nightly['id']}/stop", json={}))
    assert world.wait_terminal(stopped["execution_id"]) == "STOPPED"
    world.ok(api.delete(f"/job/{nightly['id']}"), 204)


def test_the_readme_example_deploys_and_answers(stack: RunningStack) -> None:
    """README walkthrough: examples/hello/deploy.sh against the stack, then its URL through the edge."""
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "SLIPWAY_API_URL": stack.api_url,
        "SLIPWAY_API_TOKEN": stack.token,
        "SLIPWAY_STATE_DIR": str(stack.state_dir),
    }
    done = subprocess.run(
        ["bash", str(root / "examples" / "hello" / "deploy.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    url = done.stdout.strip().splitlines()[-1].split()[1]
    host = url.split("://", 1)[1].split(":")[0]
    page = httpx.get(f"http://127.0.0.1:{stack.ports['edge_http']}/", headers={"Host": host}, timeout=10)
    assert page.status_code == 200 and "Hello from Slipway" in page.text
    https = httpx.Client(verify=False, timeout=10)
    request = https.build_request(
        "GET",
        f"https://127.0.0.1:{stack.ports['edge_https']}/greeting.txt",
        headers={"Host": host},
        extensions={"sni_hostname": host},
    )
    assert https.send(request).text.startswith("hello from ")
    app = json.loads((stack.state_dir / "hello.json").read_text())["app"]
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Token {stack.token}"}, timeout=30)
    env_id = api.get(f"/application/{app}").json()["environment"]["id"]
    assert api.post(f"/environment/{env_id}/uninstall", json={}).status_code == 202
    until(lambda: api.get(f"/application/{app}/status").json()["state"] == "DELETED", 60, "the example's uninstall")
