"""`/service/logs` and `/service/status` against real NATS and Postgres, a deployer stand-in and a catalog stand-in.

The test plays the deployer: it answers `logsctl.tail`/`logsctl.status` and publishes lines on
`logs.<environment>.<service>` itself, so the logs service is exercised in isolation (the real responder is
tested in services/deployer/tests/test_tails.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import nats
import pytest
import websockets
from fastapi import FastAPI, HTTPException
from websockets.exceptions import ConnectionClosed

from logs.logql import LogQLError, parse
from logs.main import create_app
from logs.service_logs.common import parse_start
from logs.service_logs.lines import from_json, severity
from logs.settings import LogsSettings
from slipway.principal import HEADER, Principal, sign
from slipway_stack.testing import serve, wait_until

KEY = "test-internal-key"
ORG, PROJECT, CLUSTER = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())


# -- LogQL and line parsing (no servers) ------------------------------------------------------------------------
def labels(**kw: str) -> dict[str, str]:
    return {"qovery_com_service_id": "s1", "level": "info", "pod": "p1", "container": "c1", **kw}


def test_logql_console_query() -> None:
    q = parse('{qovery_com_service_id="s1", level="error"} |= "timeout" != "retry"')
    assert q.matches(labels(level="error"), "db timeout")
    assert not q.matches(labels(level="error"), "db timeout, retry")
    assert not q.matches(labels(level="info"), "db timeout")
    assert not q.matches(labels(level="error", qovery_com_service_id="s2"), "db timeout")


def test_logql_operators_and_strings() -> None:
    q = parse(r'{pod=~"web-.*", container!="sidecar", app!~`test|dev`} |~ "GET /api/\\d+" !~ "health"')
    assert q.matches(labels(pod="web-1", container="app", app="prod"), "GET /api/42")
    assert not q.matches(labels(pod="xweb-1", container="app", app="prod"), "GET /api/42")  # anchored
    assert not q.matches(labels(pod="web-1", container="sidecar", app="prod"), "GET /api/42")
    assert not q.matches(labels(pod="web-1", container="app", app="dev"), "GET /api/42")
    assert not q.matches(labels(pod="web-1", container="app", app="prod"), "GET /api/x")
    assert not q.matches(labels(pod="web-1", container="app", app="prod"), "GET /api/1 health")
    # a missing label reads as "", level aliases are equivalent, empty selectors and queries match all
    assert parse('{qovery_com_deployment_id!="d1"}').matches(labels(), "x")
    assert not parse('{qovery_com_deployment_id="d1"}').matches(labels(), "x")
    assert parse('{level="warning"}').matches(labels(level="warn"), "x")
    assert parse("{}").matches(labels(), "x") and parse("").matches(labels(), "x") and parse(None).matches({}, "")
    assert parse('|= "a\\"b"').matches({}, 'say a"b')


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ('{level="error"', "expected ',' or '}'"),
        ('{level=error"}', "expected a quoted string"),
        ('{level~"x"}', "expected =, !=, =~ or !~"),
        ('{level="x"} | json', "unsupported pipeline stage '| json'"),
        ('{pod=~"(("}', "invalid label regular expression"),
        ('{pod="x"} |= "unterminated', "unterminated string"),
        ('{pod="x"} foo', "expected a line filter"),
        ('{1pod="x"}', "expected a label name"),
    ],
)
def test_logql_errors_name_the_problem(query: str, fragment: str) -> None:
    with pytest.raises(LogQLError) as err:
        parse(query)
    assert fragment in str(err.value) and "at character" in str(err.value)


def test_severity_from_stream_and_words() -> None:
    assert severity("stdout", "listening on :8080") == "INFO"
    assert severity("stderr", "listening on :8080") == "ERROR"
    assert severity("stderr", "2024-01-01 INFO starting") == "INFO"
    assert severity("stderr", 'time=1 level=warn msg="slow"') == "WARN"
    assert severity("stdout", '{"level":"error","msg":"boom"}') == "ERROR"
    assert severity("stdout", "no error here") == "INFO"  # a lower-case word in prose is not a level
    line = from_json("e1", {"service_id": "s1", "pod_name": "p", "stream": "stderr", "timestamp_ms": 5, "message": "x"})
    frame = json.loads(line.frame)
    assert frame == {
        "created_at": 5,
        "pod_name": "p",
        "container_name": "p",
        "message": "x",
        "version": "",
        "severity_text": "ERROR",
        "labels": frame["labels"],
        "from_kube": False,
    }
    assert frame["labels"]["level"] == "error" and frame["labels"]["qovery_com_service_id"] == "s1"


def test_start_formats() -> None:
    assert parse_start("1700000000123") == 1700000000123
    assert parse_start("1700000000") == 1700000000000
    assert parse_start("1700000000123456789") == 1700000000123
    assert parse_start("2023-11-14T22:13:20.123Z") == 1700000000123
    assert parse_start("2023-11-14T22:13:20.123456789+00:00") == 1700000000123
    assert parse_start(None) is None


# -- harness ------------------------------------------------------------------------------------------------------
@dataclass
class Deployer:
    """Answers logsctl.* like the deployer and publishes lines; remembers every line for history replies."""

    nc: Any
    lines: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    tail_requests: list[dict[str, Any]] = field(default_factory=list)
    status_requests: int = 0
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seq: int = 0
    last_ms: int = 0

    async def start(self) -> None:
        await self.nc.subscribe("logsctl.tail", cb=self._tail)
        await self.nc.subscribe("logsctl.status", cb=self._status)

    async def _tail(self, msg: Any) -> None:
        body = json.loads(msg.data)
        self.tail_requests.append(body)
        key = (body["environment_id"], body["service_id"])
        since = body.get("since_ms")
        history = [x for x in self.lines.get(key, []) if since is not None and x["timestamp_ms"] >= since]
        await msg.respond(json.dumps({"ok": True, "started": False, "since_ms": 1, "history": history}).encode())

    async def _status(self, msg: Any) -> None:
        self.status_requests += 1
        env = json.loads(msg.data)["environment_id"]
        await msg.respond(json.dumps({"ok": True, "services": self.statuses.get(env, [])}).encode())

    async def publish(self, env: str, svc: str, n: int, *, size: int = 0, **kw: Any) -> list[str]:
        """Publish n lines (strictly increasing timestamps); returns their messages."""
        messages = []
        for _ in range(n):
            self.seq += 1
            message = f"line {self.seq:06d} " + "x" * size
            body = {
                "service_id": svc,
                "pod_name": kw.get("pod_name", "pod-a"),
                "container_name": kw.get("pod_name", "pod-a"),
                "deployment_id": kw.get("deployment_id", "dep-1"),
                "stream": kw.get("stream", "stdout"),
                "timestamp_ms": max(int(time.time() * 1000), self.last_ms + 1),  # unique and increasing
                "message": kw.get("message", message),
            }
            self.last_ms = body["timestamp_ms"]
            self.lines.setdefault((env, svc), []).append(body)
            await self.nc.publish(f"logs.{env}.{svc}", json.dumps(body).encode())
            messages.append(body["message"])
        await self.nc.flush()
        return messages


@dataclass
class Harness:
    url: str
    app: FastAPI
    deployer: Deployer
    catalog: dict[str, dict[str, str]]

    def service(self, kind: str = "CONTAINER") -> tuple[str, str]:
        env, svc = str(uuid.uuid4()), str(uuid.uuid4())
        self.catalog[svc] = {
            "organization_id": ORG,
            "project_id": PROJECT,
            "environment_id": env,
            "cluster_id": CLUSTER,
            "kind": kind,
        }
        return env, svc

    def logs_url(self, env: str, svc: str, **extra: str) -> str:
        params = {"organization": ORG, "cluster": CLUSTER, "project": PROJECT, "environment": env, "service": svc}
        params.update(extra)
        return self.url + "/service/logs?" + urlencode(params)

    def connect(self, url: str, *, principal: str | None = "ok", **kw: Any) -> Any:
        headers = {} if principal is None else {HEADER: self.header() if principal == "ok" else principal}
        return websockets.connect(url, additional_headers=headers, open_timeout=10, **kw)

    @staticmethod
    def header() -> str:
        return sign(Principal(kind="user", subject="u1", user_id=uuid.uuid4()), KEY)


def catalog_app(services: dict[str, dict[str, str]]) -> FastAPI:
    app = FastAPI()

    @app.get("/internal/scope/service/{service_id}")
    async def service_scope(service_id: str) -> dict[str, str]:
        if service_id not in services:
            raise HTTPException(404, "service not found")
        return services[service_id]

    @app.get("/internal/scope/environment/{environment_id}")
    async def environment_scope(environment_id: str) -> dict[str, str]:
        for scope in services.values():
            if scope["environment_id"] == environment_id:
                return {k: v for k, v in scope.items() if k != "kind"}
        raise HTTPException(404, "environment not found")

    @app.get("/internal/scope/project/{project_id}")
    async def project_scope(project_id: str) -> dict[str, str]:
        return {"organization_id": ORG, "project_id": project_id}

    @app.get("/project/{project_id}/environment")
    async def environments(project_id: str) -> dict[str, Any]:
        envs = sorted({s["environment_id"] for s in services.values() if s["project_id"] == project_id})
        return {"results": [{"id": e} for e in envs]}

    return app


@pytest.fixture
async def harness(database_url: str, nats_server) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    services: dict[str, dict[str, str]] = {}
    nc = await nats.connect(nats_server.url)
    deployer = Deployer(nc)
    await deployer.start()
    async with serve(catalog_app(services)) as catalog_url:
        settings = LogsSettings(
            database_url=database_url,
            nats_url=nats_server.url,
            internal_auth_key=KEY,
            catalog_url=catalog_url,
            service_client_buffer=200,
            tail_keepalive_seconds=0.5,
            upstream_linger_seconds=0.5,
            status_poll_seconds=0.2,
        )
        app = create_app(settings)
        async with serve(app) as url:
            await app.state.nats.wait_connected(10)
            yield Harness(url.replace("http://", "ws://"), app, deployer, services)
    await nc.close()


async def receive(ws: Any, n: int, timeout: float = 15) -> list[dict[str, Any]]:
    frames = []
    async with asyncio.timeout(timeout):
        while len(frames) < n:
            frames.append(json.loads(await ws.recv()))
    return frames


async def discard(ws: Any) -> None:
    async for _ in ws:
        pass


async def watching(h: Harness, env: str, svc: str, clients: int) -> None:
    """Wait until `clients` websockets are subscribed (the handshake completes before the subscription)."""

    def subscribed() -> bool:
        hub = h.app.state.fanout.hubs.get((env, svc))
        return hub is not None and len(hub.subscribers) == clients

    await wait_until(subscribed, timeout=10)


def upstream_subscriptions(h: Harness, env: str, svc: str) -> int:
    subs = h.app.state.nats.nc._subs.values()
    return sum(1 for s in subs if s.subject == f"logs.{env}.{svc}")


# -- /service/logs -------------------------------------------------------------------------------------------------
async def test_fifty_clients_get_every_line_in_order_over_one_upstream(harness: Harness) -> None:
    h = harness
    env, svc = h.service()
    began = time.monotonic()

    def at_most_one_hub_worth() -> int:  # the first request, then one keep-alive per 0.5 s: never one per client
        return 2 + int((time.monotonic() - began) / 0.5)

    clients = [await h.connect(h.logs_url(env, svc, limit="0")).__aenter__() for _ in range(50)]
    try:
        await watching(h, env, svc, 50)
        assert len(h.deployer.tail_requests) <= at_most_one_hub_worth() < 50
        assert upstream_subscriptions(h, env, svc) == 1 and len(h.app.state.fanout.hubs) == 1
        sent: list[str] = []
        for _ in range(10):  # 500 lines, in bursts smaller than a client's queue
            sent += await h.deployer.publish(env, svc, 50)
            await asyncio.sleep(0.01)
        received = await asyncio.gather(*(receive(ws, len(sent)) for ws in clients))
        for frames in received:
            assert [f["message"] for f in frames] == sent
        assert upstream_subscriptions(h, env, svc) == 1
        assert len(h.deployer.tail_requests) <= at_most_one_hub_worth()
    finally:
        for ws in clients:
            await ws.close()
    # the upstream stops shortly after the last client left
    await wait_until(lambda: upstream_subscriptions(h, env, svc) == 0, timeout=5)
    assert not h.app.state.fanout.hubs
    count = len(h.deployer.tail_requests)
    await asyncio.sleep(1.2)
    assert len(h.deployer.tail_requests) == count  # no more keep-alives


async def test_slow_client_is_dropped_with_1011_and_others_keep_up(harness: Harness) -> None:
    h = harness
    env, svc = h.service()
    fast = [await h.connect(h.logs_url(env, svc, limit="0")).__aenter__() for _ in range(5)]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    port = int(h.url.rsplit(":", 1)[1])
    sock.connect(("127.0.0.1", port))
    # no compression: the lines must really fill the socket buffers
    slow_url = h.logs_url(env, svc, limit="0")
    slow = await h.connect(slow_url, sock=sock, max_queue=1, compression=None).__aenter__()
    await watching(h, env, svc, 6)
    hub = h.app.state.fanout.hubs[(env, svc)]
    collected: list[list[str]] = [[] for _ in fast]
    last_seen = [0.0 for _ in fast]

    async def consume(i: int, ws: Any) -> None:
        async for raw in ws:
            collected[i].append(json.loads(raw)["message"])
            last_seen[i] = time.monotonic()

    readers = [asyncio.create_task(consume(i, ws)) for i, ws in enumerate(fast)]
    sent: list[str] = []
    dropped_at = None
    for _ in range(80):  # 80 × 50 lines × ~4 KiB: far more than the slow client's socket buffers and queue
        sent += await h.deployer.publish(env, svc, 50, size=4096)
        await asyncio.sleep(0.02)
        if dropped_at is None and len(hub.subscribers) == 5:
            dropped_at = len(sent)
    finished = time.monotonic()
    await wait_until(lambda: all(len(c) == len(sent) for c in collected), timeout=20)
    assert dropped_at is not None and dropped_at < len(sent), "the slow client was never dropped"
    assert max(last_seen) - finished < 5  # the fast clients kept up: the last line reached them promptly
    for c in collected:
        assert c == sent
    # the slow client finally reads: what it was sent, then the 1011 close
    got = 0
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(30):
            while True:
                await slow.recv()
                got += 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011, closed.value
    assert 0 < got < len(sent)
    for task in readers:
        task.cancel()
    for ws in fast:
        await ws.close()


async def test_reconnect_with_start_resumes_without_gaps(harness: Harness) -> None:
    h = harness
    env, svc = h.service()
    keeper = await h.connect(h.logs_url(env, svc, limit="0")).__aenter__()  # keeps the hub (and its ring) alive
    keeper_reads = asyncio.create_task(discard(keeper))
    async with h.connect(h.logs_url(env, svc, limit="0")) as ws:
        await watching(h, env, svc, 2)
        first = await h.deployer.publish(env, svc, 100)
        frames = await receive(ws, 100)
    last_ts = frames[-1]["created_at"]
    missed = await h.deployer.publish(env, svc, 100)  # while disconnected
    async with h.connect(h.logs_url(env, svc, start=str(last_ts))) as ws:
        resumed = await receive(ws, 101)
        assert [f["message"] for f in resumed] == [first[-1], *missed]  # `start` is inclusive
        await watching(h, env, svc, 2)
        live = await h.deployer.publish(env, svc, 20)
        assert [f["message"] for f in await receive(ws, 20)] == live
    await keeper.close()
    await keeper_reads
    # once the hub is gone, a reconnect is served from the deployer's history (RFC 3339 start this time)
    await wait_until(lambda: not h.app.state.fanout.hubs, timeout=5)
    more = await h.deployer.publish(env, svc, 30)  # nobody watches: only the deployer has them
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(last_ts // 1000)) + f".{last_ts % 1000:03d}Z"
    async with h.connect(h.logs_url(env, svc, start=start)) as ws:
        frames = await receive(ws, 1 + 100 + 20 + 30)
        assert [f["message"] for f in frames] == [first[-1], *missed, *live, *more]


async def test_limit_and_default_history(harness: Harness) -> None:
    h = harness
    env, svc = h.service()
    sent = await h.deployer.publish(env, svc, 40)  # before anyone watches
    async with h.connect(h.logs_url(env, svc, limit="5")) as ws:
        assert [f["message"] for f in await receive(ws, 5)] == sent[-5:]
        await watching(h, env, svc, 1)
        live = await h.deployer.publish(env, svc, 3)
        assert [f["message"] for f in await receive(ws, 3)] == live


async def test_pod_deployment_and_logql_filters(harness: Harness) -> None:
    h = harness
    env, svc = h.service()
    urls = {
        "pod": h.logs_url(env, svc, limit="0", pod_name="pod-b"),
        "deployment": h.logs_url(env, svc, limit="0", deployment_id="dep-2"),
        "level": h.logs_url(env, svc, limit="0", query=f'{{qovery_com_service_id="{svc}",level="error"}}'),
        "text": h.logs_url(env, svc, limit="0", query='{pod=~"pod-.*"} |= "needle" != "skip"'),
        "other-service": h.logs_url(env, svc, limit="0", query='{qovery_com_service_id="someone-else"}'),
    }
    conns = {name: await h.connect(url).__aenter__() for name, url in urls.items()}
    try:
        await watching(h, env, svc, len(conns))
        await h.deployer.publish(env, svc, 1, pod_name="pod-a", message="a plain line")
        await h.deployer.publish(env, svc, 1, pod_name="pod-b", message="from pod b")
        await h.deployer.publish(env, svc, 1, deployment_id="dep-2", message="new version")
        await h.deployer.publish(env, svc, 1, stream="stderr", message="crash on stderr")
        await h.deployer.publish(env, svc, 1, stream="stderr", message="INFO harmless on stderr")
        await h.deployer.publish(env, svc, 1, message="found the needle")
        await h.deployer.publish(env, svc, 1, message="needle but skip")
        await h.deployer.publish(env, svc, 1, message="marker")  # every filter above rejects it but "level"…
        expected = {
            "pod": ["from pod b"],
            "deployment": ["new version"],
            "level": ["crash on stderr"],
            "text": ["found the needle"],
        }
        for name, messages in expected.items():
            frames = await receive(conns[name], len(messages))
            assert [f["message"] for f in frames] == messages, name
        for name in [*expected, "other-service"]:  # nothing else arrives
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(conns[name].recv(), 0.3)
        assert frames[0]["labels"]["pod"] == "pod-a" and frames[0]["version"] == "dep-1"
    finally:
        for ws in conns.values():
            await ws.close()


async def close_code(h: Harness, url: str, **kw: Any) -> tuple[int, str]:
    async with h.connect(url, **kw) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_refusals_and_close_codes(harness: Harness) -> None:
    h = harness
    env, svc = h.service()
    other_env, other_svc = h.service()
    url = h.logs_url(env, svc)
    assert (await close_code(h, url, principal=None))[0] == 1008
    forged = sign(Principal(kind="user", subject="u1"), "another-key")
    assert (await close_code(h, url, principal=forged))[0] == 1008
    assert (await close_code(h, h.logs_url(env, other_svc)))[0] == 1007  # service not in this environment
    assert (await close_code(h, h.logs_url(env, str(uuid.uuid4()))))[0] == 1007  # unknown service
    wrong_org = url.replace(f"organization={ORG}", f"organization={uuid.uuid4()}")
    assert (await close_code(h, wrong_org))[0] == 1007
    other_org_token = sign(Principal(kind="api_token", subject="t1", organization_id=uuid.uuid4()), KEY)
    assert (await close_code(h, url, principal=other_org_token))[0] == 1007
    code, reason = await close_code(h, h.logs_url(env, svc, query='{level="error"} | json'))
    assert code == 1007 and "unsupported pipeline stage" in reason
    assert (await close_code(h, h.logs_url(env, svc, start="yesterday")))[0] == 1007
    assert other_env  # (its service exists, in another environment)
    # the browser's sub-protocol is answered
    async with h.connect(h.logs_url(env, svc, limit="0"), subprotocols=["v1"]) as ws:
        assert ws.subprotocol == "v1"


# -- /service/status ------------------------------------------------------------------------------------------------
def service_status(svc: str, state: str, restarts: int = 0) -> dict[str, Any]:
    instance = {
        "name": f"slipway-{svc[:8]}-1",
        "state": state,
        "restart_count": restarts,
        "started_at_ms": 1_700_000_000_000,
        "deployment_id": "dep-1",
        "state_reason": None if state == "RUNNING" else "exited with code 1",
    }
    return {"service_id": svc, "state": state, "instances": [instance]}


async def test_service_status_frame_on_connect_and_on_change(harness: Harness) -> None:
    h = harness
    env, app_svc = h.service("APPLICATION")
    db_svc = str(uuid.uuid4())
    h.catalog[db_svc] = {**h.catalog[app_svc], "kind": "DATABASE"}
    h.deployer.statuses[env] = [service_status(app_svc, "RUNNING"), service_status(db_svc, "RUNNING")]
    url = f"{h.url}/service/status?organization={ORG}&cluster={CLUSTER}&project={PROJECT}&environment={env}"
    async with h.connect(url) as ws, h.connect(url) as ws2:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert json.loads(await asyncio.wait_for(ws2.recv(), 10)) == frame
        (environment,) = frame["environments"]
        assert environment["id"] == env and environment["project_id"] == PROJECT and environment["state"] == "RUNNING"
        assert [s["id"] for s in environment["applications"]] == [app_svc]
        assert [s["id"] for s in environment["databases"]] == [db_svc]
        for bucket in ("containers", "jobs", "helms", "terraform", "argocd_apps", "agentic_workflows"):
            assert environment[bucket] == []
        pod = environment["applications"][0]["pods"][0]
        assert pod["started_at"] == 1_700_000_000_000 and pod["service_version"] == "dep-1"
        assert pod["state"] == "RUNNING" and pod["state_reason"] == "" and pod["last_events"] == []
        assert environment["applications"][0]["certificates"] == []
        # nothing changes: no new frame
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.7)
        h.deployer.statuses[env] = [service_status(app_svc, "ERROR", restarts=2), service_status(db_svc, "RUNNING")]
        changed = json.loads(await asyncio.wait_for(ws.recv(), 10))
        app_status = changed["environments"][0]["applications"][0]
        assert app_status["state"] == "ERROR" and app_status["pods"][0]["restart_count"] == 2
        assert app_status["pods"][0]["state_message"] == "exited with code 1"
        assert changed["environments"][0]["state"] == "WARNING"
        assert len(h.app.state.status_pollers.pollers) == 1  # one poller for both clients
    await wait_until(lambda: not h.app.state.status_pollers.pollers, timeout=5)
    polls = h.deployer.status_requests
    await asyncio.sleep(0.6)
    assert h.deployer.status_requests == polls  # polling stopped with the last client


async def test_service_status_for_a_project(harness: Harness) -> None:
    h = harness
    env1, svc1 = h.service()
    env2, svc2 = h.service("JOB")
    h.deployer.statuses[env1] = [service_status(svc1, "RUNNING")]
    h.deployer.statuses[env2] = [service_status(svc2, "COMPLETED")]
    url = f"{h.url}/service/status?organization={ORG}&cluster={CLUSTER}&project={PROJECT}"
    async with h.connect(url) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    by_id = {e["id"]: e for e in frame["environments"]}
    assert by_id[env1]["containers"][0]["id"] == svc1
    assert by_id[env2]["jobs"][0]["state"] == "COMPLETED" and by_id[env2]["state"] == "COMPLETED"
    assert (await close_code(h, url, principal=None))[0] == 1008


async def test_a_retired_poller_stops_even_when_its_cancellation_is_swallowed() -> None:
    """The deployer's reply landing as the poller is retired: Python 3.11's wait_for drops the cancellation."""
    from types import SimpleNamespace

    from logs.service_logs.status import EnvironmentPoller, StatusPollers

    loop = asyncio.get_running_loop()
    replies: list[asyncio.Future[list[dict[str, Any]]]] = []

    class Deployer(StatusPollers):
        async def request_status(self, environment_id: str) -> list[dict[str, Any]]:
            replies.append(loop.create_future())
            return await asyncio.wait_for(replies[-1], 10)  # how nats-py's request() waits

        async def environment_dto(self, environment_id: str, project_id: str, services: list[dict[str, Any]]) -> dict:
            return {"id": environment_id, "services": services}

    settings = SimpleNamespace(status_poll_seconds=0.01, upstream_linger_seconds=0.0)
    pollers = Deployer(None, None, settings)  # type: ignore[arg-type]
    poller: EnvironmentPoller = pollers.acquire(str(uuid.uuid4()), str(uuid.uuid4()))
    await wait_until(lambda: len(replies) == 1, timeout=5)
    pollers.release(poller)
    replies[-1].set_result([])  # the reply and the retirement in the same turn of the loop
    pollers._retire(poller)
    done, _ = await asyncio.wait({poller.task}, timeout=2)
    assert done, "the retired poller went on polling"
    assert poller.polls == 1 and not pollers.pollers
