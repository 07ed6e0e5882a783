"""The whole platform started exactly like `make up` (random ports, temp state dir), used through the gateway."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid

import httpx
import pytest

from slipway_stack.testing import RunningStack, stack_processes

pytestmark = pytest.mark.stack
KEYS = {"status", "error", "detail", "message", "timestamp", "path"}
SERVICES = ["iam", "catalog", "builder", "deployer", "logs", "api-gateway"]


def assert_error(r: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    body = r.json()
    assert KEYS <= body.keys() and body["status"] == status and body["timestamp"].endswith("Z")
    return body


def test_up_reports_progress_and_writes_env(stack: RunningStack) -> None:
    out = stack.up_output
    for component in ["postgres", "nats", "migrations", *SERVICES]:
        assert component in out
    assert f"API (gateway): {stack.api_url}" in out
    env_file = stack.state_dir / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lines = env_file.read_text().splitlines()
    assert lines[0] == f"SLIPWAY_API_URL={stack.api_url}" and lines[1].startswith("SLIPWAY_API_TOKEN=qov_")


def test_organization_without_token_is_401_in_qovery_form(stack: RunningStack) -> None:
    body = assert_error(httpx.get(f"{stack.api_url}/organization"), 401)
    assert body["error"] == "Unauthorized" and body["path"] == "/organization"


def test_the_bootstrapped_token_authenticates(stack: RunningStack) -> None:
    r = httpx.get(f"{stack.api_url}/organization", headers={"Authorization": f"Token {stack.token}"})
    assert r.status_code not in (401, 403), r.text
    assert_error(httpx.get(f"{stack.api_url}/organization", headers={"Authorization": "Token qov_forged"}), 401)


def test_bad_input_through_the_gateway(stack: RunningStack) -> None:
    h = {"Authorization": f"Token {stack.token}"}
    api = stack.api_url
    assert_error(httpx.get(f"{api}/definitely/not/a/route", headers=h), 404)
    assert_error(
        httpx.post(f"{api}/organization", content=b'{"name":', headers={**h, "content-type": "application/json"}), 400
    )
    assert_error(httpx.post(f"{api}/organization", content=b"name=x", headers={**h, "content-type": "text/plain"}), 415)
    assert_error(
        httpx.post(f"{api}/organization", content=b"x" * 2_000_000, headers={**h, "content-type": "application/json"}),
        413,
    )


def test_every_service_is_ready_and_status_says_so(stack: RunningStack) -> None:
    for name in SERVICES:
        r = httpx.get(f"{stack.urls[name]}/readyz")
        assert r.status_code == 200, (name, r.text)
        checks = r.json()["checks"]
        assert checks["nats"] == "ok"
        if name != "api-gateway":
            assert checks["database"] == "ok"
    status = stack.cli("status")
    for name in SERVICES:
        line = next(line for line in status.stdout.splitlines() if line.startswith(name + " "))
        assert "ready" in line and "NOT" not in line
    assert "postgres     running" in status.stdout and "nats         running" in status.stdout
    assert "edge dns     running" in status.stdout and "edge         running" in status.stdout


def test_logs_are_structured_json_per_component(stack: RunningStack) -> None:
    for name in SERVICES:
        entries = [json.loads(line) for line in stack.log(name).splitlines() if line.startswith("{")]
        assert entries and all(e["service"] for e in entries)
    assert stack.token not in "".join(stack.log(n) for n in SERVICES)
    logs = stack.cli("logs", "iam", "-n", "5")
    assert logs.returncode == 0 and "iam.log" in logs.stdout


def test_trace_continues_from_gateway_into_iam(stack: RunningStack) -> None:
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    token = "qov_" + uuid.uuid4().hex  # never cached: the gateway must ask iam
    httpx.get(f"{stack.api_url}/organization", headers={"Authorization": f"Token {token}", "traceparent": traceparent})
    assert trace_id in stack.log("api-gateway")
    assert trace_id in stack.log("iam")


def test_second_up_is_idempotent(stack: RunningStack) -> None:
    pids_before = {n: (stack.state_dir / "run" / f"{n}.pid").read_text() for n in SERVICES}
    again = stack.cli("up")
    assert "already running" in again.stdout and "reusing the API token" in again.stdout
    pids_after = {n: (stack.state_dir / "run" / f"{n}.pid").read_text() for n in SERVICES}
    assert pids_after == pids_before
    assert f"SLIPWAY_API_TOKEN={stack.token}" in (stack.state_dir / "env").read_text()
    assert httpx.get(f"{stack.api_url}/readyz").status_code == 200


def test_a_component_that_cannot_start_is_named_with_its_log(tmp_path, database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / ".slipway"
    state.mkdir()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        ports = {name: _free() for name in SERVICES}
        ports["catalog"] = taken
        (state / "stack.json").write_text(json.dumps({"internal_key": "k" * 32, "ports": ports}))
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "NATS_URL": nats_server.url,
            "SLIPWAY_READY_TIMEOUT": "60",
            "SLIPWAY_DATABASE_IMAGES_DEFER": "1",
        }
        cmd = [sys.executable, "-m", "slipway_stack", "--state-dir", str(state)]
        try:
            up = subprocess.run([*cmd, "up"], capture_output=True, text=True, env=env, timeout=300)
            assert up.returncode == 1
            assert "catalog" in up.stderr and str(state / "logs" / "catalog.log") in up.stderr
            assert "using DATABASE_URL" in up.stdout and "using NATS_URL" in up.stdout
        finally:
            subprocess.run([*cmd, "down"], capture_output=True, text=True, env=env, timeout=120)
    assert stack_processes(state) == []


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_new_organization_reaches_catalog_through_events(stack: RunningStack) -> None:
    """iam's outbox → NATS → catalog's consumer, in the real stack: the default cluster and registry appear."""
    import asyncio

    import asyncpg

    h = {"Authorization": f"Token {stack.token}"}
    r = httpx.post(
        f"{stack.api_url}/organization", json={"name": f"org-{uuid.uuid4().hex[:6]}", "plan": "FREE"}, headers=h
    )
    assert r.status_code == 201, r.text
    org = r.json()["id"]
    listed = httpx.get(f"{stack.api_url}/organization", headers=h).json()["results"]
    assert org in [o["id"] for o in listed]  # read-your-writes at iam
    password = (stack.state_dir / "pg-password").read_text().strip()

    async def defaults() -> tuple[int, int]:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=stack.ports["postgres"], user="postgres", password=password, database="slipway"
        )
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                clusters = await conn.fetchval(
                    "SELECT count(*) FROM catalog.clusters WHERE organization_id = $1 AND is_default", uuid.UUID(org)
                )
                registries = await conn.fetchval(
                    "SELECT count(*) FROM catalog.container_registries WHERE organization_id = $1 AND is_default",
                    uuid.UUID(org),
                )
                if clusters or asyncio.get_running_loop().time() > deadline:
                    return clusters, registries
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    assert asyncio.run(defaults()) == (1, 1)
    httpx.put(f"{stack.api_url}/organization/{org}", json={"name": "renamed", "plan": "FREE"}, headers=h)
    audit = httpx.get(f"{stack.api_url}/slipway/organization/{org}/auditLog", headers=h).json()["results"]
    assert [e["action"] for e in audit] == ["organization.edit", "organization.create"]
    assert {e["actor_kind"] for e in audit} == {"api_token"} and audit[1]["resource_id"] == org


def test_projects_and_environments_through_the_real_stack(stack: RunningStack) -> None:
    """The gateway resolves a project's and an environment's scope at the real catalog (another process)."""
    h = {"Authorization": f"Token {stack.token}"}
    api = stack.api_url
    org = httpx.post(
        f"{api}/organization", json={"name": f"p-{uuid.uuid4().hex[:6]}", "plan": "FREE"}, headers=h
    ).json()["id"]
    clusters = httpx.get(f"{api}/organization/{org}/cluster", headers=h).json()["results"]
    assert [c["is_default"] for c in clusters] == [True]  # at once, whether or not the event has arrived
    project = httpx.post(f"{api}/organization/{org}/project", json={"name": "web"}, headers=h)
    assert project.status_code == 200, project.text
    pid = project.json()["id"]
    env = httpx.post(f"{api}/project/{pid}/environment", json={"name": "dev", "mode": "DEVELOPMENT"}, headers=h)
    assert env.status_code == 201, env.text
    eid = env.json()["id"]
    assert env.json()["cluster_id"] == clusters[0]["id"]
    stages = httpx.get(f"{api}/environment/{eid}/deploymentStage", headers=h).json()["results"]
    assert len(stages) == 4
    assert httpx.get(f"{api}/environment/{uuid.uuid4()}", headers=h).status_code == 404
    assert httpx.delete(f"{api}/environment/{eid}", headers=h).status_code == 204
    assert httpx.get(f"{api}/environment/{eid}", headers=h).status_code == 404
