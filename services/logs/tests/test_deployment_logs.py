"""Deployment logs on the real logs app (Postgres + NATS): stored once and masked, listEnvironmentLogs per spec,
`/deployment/logs` replay + follow without gap or duplicate for many clients, `/deployment/status` on events.

Catalog and deployer are other services: a small in-process stand-in answers their few internal routes.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import nats
import pytest
import websockets
from fastapi import FastAPI, Request
from sqlalchemy import text

from logs.deployment import store
from logs.main import create_app
from logs.settings import LogsSettings
from slipway.deploylog import DeployLogLine, Masker, publish
from slipway.errors import NotFound, Unauthorized, install_error_handlers
from slipway.events import Envelope
from slipway.natsconn import ensure_streams
from slipway.principal import HEADER, Principal, sign, verify
from slipway_stack.qovery_spec import check
from slipway_stack.testing import serve, wait_until

KEY = "logs-test-internal-key"
SECRET = "s3cr3t-Val-9f2"  # a variable marked secret: the producer masks it
BASE_MS = 1_780_000_000_000


def user() -> Principal:
    uid = uuid.uuid4()
    return Principal(kind="user", subject=str(uid), user_id=uid)


@dataclass
class Env:
    organization_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    project_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cluster_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    stage_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def execution(self, n: int) -> str:
        return f"{self.id}-{n}"

    def line(self, n: int, seq: int, message: str | None = None, **extra: Any) -> DeployLogLine:
        fields: dict[str, Any] = {
            "execution_id": self.execution(n),
            "organization_id": self.organization_id,
            "project_id": self.project_id,
            "environment_id": self.id,
            "cluster_id": self.cluster_id,
            "service_id": self.service_id,
            "service_kind": "CONTAINER",
            "service_name": "web",
            "stage_id": self.stage_id,
            "step": "Deploy",
            "source": "deployer",
            "seq": seq,
            "timestamp_ms": BASE_MS + n * 1_000_000 + seq,
            "message": message if message is not None else f"line {seq}",
        }
        fields.update(extra)
        return DeployLogLine(**fields)


@dataclass
class World:
    settings: LogsSettings
    js: Any
    envs: dict[str, Env]
    statuses: dict[str, str]  # environment id -> deployment state the stand-in deployer answers
    fetches: list[str]
    url: str = ""
    app: Any = None
    running: AsyncExitStack | None = None

    async def start(self) -> None:
        self.running = AsyncExitStack()
        self.url, self.app = await self.running.enter_async_context(running_logs(self.settings))

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.aclose()
            self.running = None

    def env(self) -> Env:
        env = Env()
        self.envs[env.id] = env
        self.statuses[env.id] = "DEPLOYED"
        return env

    def ws(self, path: str, env: Env, **query: str | None) -> str:
        q = {"organization": env.organization_id, "cluster": env.cluster_id, "project": env.project_id}
        q["environment"] = env.id
        q.update(query)
        return self.url.replace("http://", "ws://") + path + "?" + urlencode({k: v for k, v in q.items() if v})

    async def publish(self, *lines: DeployLogLine) -> None:
        for line in lines:
            await publish(self.js, line)

    async def stored(self, count: int, env: Env) -> None:
        async def enough() -> bool:
            return await self.count(env) >= count

        await wait_until(enough, timeout=20, message=f"{count} lines of {env.id} never stored")

    async def count(self, env: Env) -> int:
        async with self.app.state.db.transaction() as session:
            found = await session.scalar(
                text("SELECT count(*) FROM logs.deployment_log_lines WHERE environment_id = :e"), {"e": env.id}
            )
            return int(found or 0)


def status_of(env_id: str, state: str) -> dict[str, Any]:
    return {
        "id": env_id,
        "state": state,
        "last_deployment_state": state,
        "last_deployment_date": None,
        "last_deployment_id": None,
        "total_deployment_duration_in_seconds": None,
        "origin": "API",
        "triggered_by": None,
        "deployment_status": "UP_TO_DATE",
        "deployment_request_id": None,
    }


def stand_in(envs: dict[str, Env], statuses: dict[str, str], fetches: list[str]) -> FastAPI:
    """Catalog's scope/listing routes and deployer's status routes, answering only signed service calls."""
    app = FastAPI()
    install_error_handlers(app)

    def service_only(request: Request) -> None:
        if verify(request.headers.get(HEADER, "x.y"), KEY).kind != "service":
            raise Unauthorized("service calls only")

    @app.get("/internal/scope/{kind}/{ident}")
    async def scope(kind: str, ident: str, request: Request) -> dict[str, str]:
        service_only(request)
        for env in envs.values():
            if (kind, ident) in (("environment", env.id), ("project", env.project_id)):
                found = {"organization_id": env.organization_id, "project_id": env.project_id}
                return found | ({"environment_id": env.id} if kind == "environment" else {})
        raise NotFound(f"{kind} not found")

    @app.get("/project/{project_id}/environment")
    async def environments(project_id: str, request: Request) -> dict[str, Any]:
        service_only(request)
        return {"results": [{"id": e.id} for e in envs.values() if e.project_id == project_id]}

    @app.get("/environment/{env_id}/status")
    async def status(env_id: str, request: Request) -> dict[str, Any]:
        service_only(request)
        fetches.append(env_id)
        return status_of(env_id, statuses[env_id])

    @app.get("/environment/{env_id}/statusesWithStages")
    async def with_stages(env_id: str, request: Request) -> dict[str, Any]:
        service_only(request)
        fetches.append(env_id)
        stage = {"id": envs[env_id].stage_id, "name": "DEFAULT", "description": "", "status": "DONE"}
        return {
            "environment": status_of(env_id, statuses[env_id]),
            "stages": [{"stage": stage, "applications": [], "containers": [], "databases": [], "jobs": []}],
            "pre_check_stage": {"status": "SUCCESS", "total_duration_sec": 0},
        }

    return app


@asynccontextmanager
async def running_logs(settings: LogsSettings) -> AsyncIterator[tuple[str, Any]]:
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await wait_until(ready, timeout=30, message="logs never ready")
        yield url, app


@pytest.fixture
async def world(database_url: str, nats_server: Any) -> AsyncIterator[World]:
    envs: dict[str, Env] = {}
    statuses: dict[str, str] = {}
    fetches: list[str] = []
    async with AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(serve(stand_in(envs, statuses, fetches)))
        settings = LogsSettings(
            database_url=database_url,
            nats_url=nats_server.url,
            internal_auth_key=KEY,
            catalog_url=upstream,
            deployer_url=upstream,
            retain_deployments=3,
            prune_interval_seconds=0.3,
            status_coalesce_seconds=0.3,
        )
        nc = await nats.connect(nats_server.url)
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        await ensure_streams(js)
        world = World(settings, js, envs, statuses, fetches)
        await world.start()
        stack.push_async_callback(world.stop)
        yield world


def signed(principal: Principal | None = None, key: str = KEY) -> dict[str, str]:
    return {HEADER: sign(principal or user(), key)}


async def read_lines(ws: Any, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Read frames until `count` lines arrived (fails on timeout); every frame is a JSON array."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        assert isinstance(frame, list) and frame, frame
        got.extend(frame)
    return got


async def nothing_more(ws: Any, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


def seqs(lines: list[dict[str, Any]]) -> list[int]:
    return [int(line["message"]["safe_message"].split()[-1]) for line in lines]


# -- persistence, masking, listEnvironmentLogs ----------------------------------------------------------
async def test_lines_are_stored_once_masked_and_listed_per_spec(world: World, spec: dict[str, Any]) -> None:
    env = world.env()
    mask = Masker([SECRET])
    # lines that can never be stored are dropped (terminated), without blocking the ones after them
    await world.js.publish(env.line(1, 1).subject, b"not json")
    broken = env.line(1, 1).model_dump() | {"stage_id": "not-a-uuid"}
    await world.js.publish(env.line(1, 1).subject, json.dumps(broken).encode())
    await world.publish(
        env.line(1, 1, "preparing environment", service_id=None, service_kind=None, service_name=None, stage_id=None),
        env.line(1, 2, mask(f"using API_KEY {SECRET}")),  # the producer masked the secret value
        env.line(1, 3, "connecting with password=hunter2"),  # a credential only the logs service catches
        env.line(1, 4, "health check failed", level="ERROR", step="DeployedError"),
    )
    # a redelivery that JetStream's window does not catch (another msg id): the unique key drops it
    await world.js.publish(env.line(1, 4).subject, env.line(1, 4, "dup").model_dump_json().encode())
    await world.stored(4, env)
    await asyncio.sleep(0.3)
    assert await world.count(env) == 4
    async with world.app.state.db.transaction() as session:
        stored = " ".join((await session.scalars(text("SELECT message FROM logs.deployment_log_lines"))).all())
    assert "hunter2" not in stored and SECRET not in stored and "password=***" in stored

    async with httpx.AsyncClient(base_url=world.url, headers=signed()) as api:
        body = check(spec, "listEnvironmentLogs", await api.get(f"/environment/{env.id}/logs"))
        assert [line["message"]["safe_message"] for line in body][0] == "preparing environment"
        environment_line, service_line, _, error_line = body
        assert environment_line["details"]["transmitter"] == {
            "type": "Environment",
            "id": env.id,
            "name": "environment",
        }
        assert service_line["details"]["transmitter"] == {"type": "Container", "id": env.service_id, "name": "web"}
        assert service_line["details"]["stage"] == {"step": "Deploy", "id": env.stage_id, "name": "deploy"}
        assert service_line["details"]["execution_id"] == env.execution(1)
        assert service_line["details"]["organization_id"] == env.organization_id
        assert service_line["details"]["cluster_id"] == env.cluster_id
        assert service_line["type"] == "info" and error_line["type"] == "error"
        assert error_line["error"]["user_log_message"] == "health check failed" and error_line["error"]["hint_message"]
        assert "error" not in service_line
        assert len({line["timestamp"] for line in body}) == 4  # distinct: the console de-duplicates by timestamp
        assert "hunter2" not in json.dumps(body) and SECRET not in json.dumps(body)

        # the latest execution by default, the last 1,000 lines of it, `version` selects an older one
        await world.publish(*(env.line(2, seq) for seq in range(1, 1101)))
        await world.stored(1104, env)
        latest = check(spec, "listEnvironmentLogs", await api.get(f"/environment/{env.id}/logs"))
        assert seqs(latest) == list(range(101, 1101))
        assert {line["details"]["execution_id"] for line in latest} == {env.execution(2)}
        older = check(
            spec, "listEnvironmentLogs", await api.get(f"/environment/{env.id}/logs?version={env.execution(1)}")
        )
        assert len(older) == 4 and {line["details"]["execution_id"] for line in older} == {env.execution(1)}
        # another environment's execution is never listed here; an environment without lines lists nothing
        other = world.env()
        assert (await api.get(f"/environment/{other.id}/logs?version={env.execution(1)}")).json() == []
        assert (await api.get(f"/environment/{other.id}/logs")).json() == []
        r = await api.get(f"/environment/{env.id}/logs", headers={HEADER: "forged.value"})
        assert r.status_code == 401 and r.json()["status"] == 401
        assert (await api.get("/environment/not-a-uuid/logs")).status_code == 400
        for version in ("a\x00b", "x", f"{env.id}-", f"{env.id}-1; drop"):
            r = await api.get(f"/environment/{env.id}/logs", params={"version": version})
            assert r.status_code == 400 and "version" in r.json()["detail"], (version, r.text)


async def test_a_listing_after_the_lines_were_published_has_all_of_them(world: World) -> None:
    """A deployment's lines are published before it ends: whoever then lists its log (no waiting for the store)
    gets every line, however far the storing consumer lags behind."""
    env = world.env()
    for round_ in (1, 2, 3):
        await world.publish(*(env.line(round_, seq) for seq in range(1, 401)))
        async with httpx.AsyncClient(base_url=world.url, headers=signed()) as api:
            listed = (await api.get(f"/environment/{env.id}/logs", params={"version": env.execution(round_)})).json()
        assert seqs(listed) == list(range(1, 401)), (round_, len(listed))


# -- /deployment/logs -----------------------------------------------------------------------------------
async def test_many_clients_replay_and_follow_without_gap_or_duplicate(world: World, spec: dict[str, Any]) -> None:
    env = world.env()
    total, clients = 400, 24
    started = asyncio.Event()

    async def producer() -> None:
        for seq in range(1, total + 1):
            await world.publish(env.line(1, seq))
            if seq == 40:
                started.set()
            if seq % 10 == 0:
                await asyncio.sleep(0.05)  # ~2 s of publishing while the clients connect

    async def client(delay: float) -> list[dict[str, Any]]:
        await asyncio.sleep(delay)
        async with websockets.connect(world.ws("/deployment/logs", env), additional_headers=signed()) as ws:
            return await read_lines(ws, total, timeout=30)

    early = [asyncio.create_task(client(0)) for _ in range(4)]  # connected before the first line exists
    await asyncio.sleep(0.5)
    publishing = asyncio.create_task(producer())
    await started.wait()
    late = [asyncio.create_task(client(0.08 * i)) for i in range(clients - len(early))]
    results = await asyncio.gather(*early, *late)
    await publishing
    for lines in results:
        assert seqs(lines) == list(range(1, total + 1))  # every line, in order, once
    check(spec, "listEnvironmentLogs", httpx.Response(200, json=results[-1]))  # frames are EnvironmentLogs
    # a client that connects once it is over gets the whole replay
    async with websockets.connect(world.ws("/deployment/logs", env), additional_headers=signed()) as ws:
        assert seqs(await read_lines(ws, total)) == list(range(1, total + 1))
        await nothing_more(ws, 0.3)


async def test_follow_switches_to_a_newer_execution_and_version_replays_a_past_one(world: World) -> None:
    env = world.env()
    await world.publish(*(env.line(1, seq) for seq in range(1, 6)))
    await world.stored(5, env)
    headers = signed()
    async with websockets.connect(world.ws("/deployment/logs", env), additional_headers=headers) as follow:
        first = await read_lines(follow, 5)
        assert {line["details"]["execution_id"] for line in first} == {env.execution(1)}
        await world.publish(*(env.line(2, seq) for seq in range(1, 4)))
        await world.publish(env.line(1, 6, "late line 6"))  # the older execution's late line is not followed
        second = await read_lines(follow, 3)
        assert seqs(second) == [1, 2, 3] and {line["details"]["execution_id"] for line in second} == {env.execution(2)}
        await nothing_more(follow, 0.3)
        past = world.ws("/deployment/logs", env, version=env.execution(1))
        async with websockets.connect(past, additional_headers=signed()) as ws:
            assert seqs(await read_lines(ws, 6)) == [1, 2, 3, 4, 5, 6]
            await world.publish(env.line(3, 1))  # a newer execution does not move a client that asked for a version
            await nothing_more(ws, 0.5)  # and it stays open (clients retry closes)
        third = await read_lines(follow, 1)
        assert third[0]["details"]["execution_id"] == env.execution(3)


async def test_a_reconnect_with_the_last_timestamp_resumes(world: World) -> None:
    env = world.env()
    await world.publish(*(env.line(1, seq) for seq in range(1, 51)))
    async with websockets.connect(world.ws("/deployment/logs", env), additional_headers=signed()) as ws:
        before = (await read_lines(ws, 50))[:30]  # the client "saw" 30 lines, then dropped
    await world.publish(*(env.line(1, seq) for seq in range(51, 81)))
    resume = world.ws("/deployment/logs", env, start=before[-1]["timestamp"])
    async with websockets.connect(resume, additional_headers=signed()) as ws:
        after = await read_lines(ws, 51)
        await nothing_more(ws, 0.3)
    assert seqs(after) == list(range(30, 81))  # from the last line seen (inclusive: same timestamp) onwards
    by_ms = world.ws("/deployment/logs", env, start=str(BASE_MS + 1_000_000 + 75))  # epoch ms also accepted
    async with websockets.connect(by_ms, additional_headers=signed()) as ws:
        assert seqs(await read_lines(ws, 6)) == list(range(75, 81))


async def test_lines_survive_a_restart_of_the_logs_app(world: World) -> None:
    env = world.env()
    await world.publish(*(env.line(1, seq) for seq in range(1, 101)))
    await world.stored(100, env)
    await world.stop()
    await world.publish(*(env.line(1, seq) for seq in range(101, 201)))  # published while logs is down
    await world.start()
    await world.stored(200, env)
    async with websockets.connect(world.ws("/deployment/logs", env), additional_headers=signed()) as ws:
        assert seqs(await read_lines(ws, 200)) == list(range(1, 201))
        await nothing_more(ws, 0.3)


async def test_secrets_are_never_streamed(world: World) -> None:
    env = world.env()
    mask = Masker([SECRET])
    await world.publish(env.line(1, 1, mask(f"secret {SECRET}")), env.line(1, 2, "login password=hunter2 ok"))
    async with websockets.connect(world.ws("/deployment/logs", env), additional_headers=signed()) as ws:
        replayed = await read_lines(ws, 2)
        await world.publish(env.line(1, 3, "retry with token: hunter2"), env.line(1, 4, "url https://u:hunter2@h/"))
        live = await read_lines(ws, 2)
    text_seen = json.dumps(replayed + live)
    assert "hunter2" not in text_seen and SECRET not in text_seen
    assert [line["message"]["safe_message"] for line in replayed] == ["secret ***", "login password=*** ok"]


async def test_retention_keeps_the_last_executions_of_each_environment(world: World) -> None:
    env, other = world.env(), world.env()
    await world.publish(*(env.line(n, seq) for n in range(1, 6) for seq in (1, 2)))
    await world.publish(*(other.line(n, 1) for n in (1, 2)))

    async def executions(e: Env) -> list[str]:
        async with world.app.state.db.transaction() as session:
            rows = await session.scalars(
                text("SELECT DISTINCT execution_id FROM logs.deployment_log_lines WHERE environment_id = :e"),
                {"e": e.id},
            )
            return sorted(rows.all())

    async def pruned() -> bool:
        return await executions(env) == [env.execution(n) for n in (3, 4, 5)]

    await world.stored(2, other)
    await wait_until(pruned, timeout=10, message="old executions never pruned")
    assert await executions(other) == [other.execution(1), other.execution(2)]
    assert await store.latest_execution(world.app.state.db, env.id) == env.execution(5)
    async with httpx.AsyncClient(base_url=world.url, headers=signed()) as api:
        assert (await api.get(f"/environment/{env.id}/logs?version={env.execution(1)}")).json() == []


async def test_bad_credentials_close_1008_and_foreign_ids_close_1007(world: World) -> None:
    env, other = world.env(), world.env()
    url = world.ws("/deployment/logs", env)
    for headers in ({}, {HEADER: "garbage"}, signed(key="another-key")):
        async with websockets.connect(url, additional_headers=headers) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    bound = Principal(kind="api_token", subject="t", organization_id=uuid.UUID(other.organization_id))
    for path, query, headers in (
        ("/deployment/logs", {"organization": other.organization_id}, signed()),
        ("/deployment/logs", {"project": other.project_id}, signed()),
        ("/deployment/logs", {"environment": str(uuid.uuid4())}, signed()),
        ("/deployment/logs", {}, signed(bound)),  # an organization token of another organization
        ("/deployment/status", {"organization": other.organization_id}, signed()),
        ("/deployment/status", {"environment": None, "organization": other.organization_id}, signed()),
    ):
        async with websockets.connect(world.ws(path, env, **query), additional_headers=headers) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007, (path, query)
    async with websockets.connect(url, additional_headers=signed(), subprotocols=["v1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v1"


# -- /deployment/status ---------------------------------------------------------------------------------
async def status_event(world: World, env: Env, state: str) -> None:
    envelope = Envelope(
        type="evt.deployer.status.changed",
        source="deployer",
        organization_id=uuid.UUID(env.organization_id),
        resource_id=env.id,
        payload={"environment_id": env.id, "execution_id": env.execution(1), "state": state},
    )
    await world.js.publish(envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": str(envelope.id)})


async def test_status_frames_at_connect_and_on_each_change_coalesced(world: World, spec: dict[str, Any]) -> None:
    env = world.env()
    sibling = Env(organization_id=env.organization_id, project_id=env.project_id)
    world.envs[sibling.id], world.statuses[sibling.id] = sibling, "READY"
    async with (
        websockets.connect(world.ws("/deployment/status", env), additional_headers=signed()) as one,
        websockets.connect(
            world.ws("/deployment/status", env, environment=None), additional_headers=signed()
        ) as project,
    ):
        first = json.loads(await asyncio.wait_for(one.recv(), 10))
        check(spec, "getEnvironmentStatusesWithStages", httpx.Response(200, json=first))
        assert first["environment"]["state"] == "DEPLOYED"
        listed = json.loads(await asyncio.wait_for(project.recv(), 10))
        check(spec, "getProjectEnvironmentsStatus", httpx.Response(200, json=listed))
        assert {s["id"]: s["state"] for s in listed["results"]} == {env.id: "DEPLOYED", sibling.id: "READY"}

        fetched = world.fetches.count(env.id)
        world.statuses[env.id] = "DEPLOYING"
        for _ in range(10):  # a burst of events: one new frame
            await status_event(world, env, "DEPLOYING")
        changed = json.loads(await asyncio.wait_for(one.recv(), 10))
        assert changed["environment"]["state"] == "DEPLOYING"
        listed = json.loads(await asyncio.wait_for(project.recv(), 10))
        assert {s["id"]: s["state"] for s in listed["results"]}[env.id] == "DEPLOYING"
        await nothing_more(one, 0.6)
        assert world.fetches.count(env.id) - fetched <= 4  # coalesced: not one fetch per event and client

        world.statuses[sibling.id] = "DEPLOYMENT_QUEUED"
        await status_event(world, sibling, "DEPLOYMENT_QUEUED")  # another environment: only the project frame
        listed = json.loads(await asyncio.wait_for(project.recv(), 10))
        assert {s["id"]: s["state"] for s in listed["results"]}[sibling.id] == "DEPLOYMENT_QUEUED"
        await nothing_more(one, 0.6)


async def test_a_slow_client_is_resynchronised_without_loss_or_stalling_others(world: World) -> None:
    env = world.env()
    world.settings.client_buffer = 2  # read per connection: these clients fall behind at once
    headers = signed()
    async with (
        websockets.connect(world.ws("/deployment/logs", env), additional_headers=headers) as slow,
        websockets.connect(world.ws("/deployment/logs", env), additional_headers=headers) as fast,
    ):
        await asyncio.sleep(0.3)
        await asyncio.gather(*(world.publish(env.line(1, seq)) for seq in range(1, 601)))
        assert seqs(await read_lines(fast, 600)) == list(range(1, 601))
        await asyncio.sleep(0.5)  # the slow client reads only now
        assert seqs(await read_lines(slow, 600)) == list(range(1, 601))
        await nothing_more(slow, 0.3)
    assert world.app.state.deployment_hub.dropped > 0  # the live queue did overflow: the lines came from the database
