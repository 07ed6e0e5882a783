"""The logsctl responder against the real engine (a container printing lines) and real NATS."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import nats
import pytest

from deployer.runtime import spec as S
from deployer.runtime.docker import DockerEngineDriver
from deployer.tails import Tails
from slipway.natsconn import NatsConnection
from slipway_stack.engine import BASE_IMAGE
from slipway_stack.testing import wait_until

TEST_LABEL = "slipway.test"
TEST_VALUE = "deployer-tails"
# one line every 50 ms; every 4th goes to stderr
PRINTER = (
    'i=0; while true; do i=$((i+1)); if [ $((i % 4)) -eq 0 ]; then echo "line $i" >&2; else echo "line $i"; fi; '
    "sleep 0.05; done"
)


@pytest.fixture
async def docker(engine) -> AsyncIterator[aiodocker.Docker]:  # type: ignore[no-untyped-def]
    client = aiodocker.Docker(url=engine.host)
    yield client
    filters = json.dumps({"label": [f"{TEST_LABEL}={TEST_VALUE}"]})
    for container in await client.containers.list(all=True, filters=filters):
        await container.delete(force=True)
    await client.close()


@pytest.fixture
async def tails(engine, nats_server) -> AsyncIterator[Tails]:  # type: ignore[no-untyped-def]
    conn = NatsConnection(nats_server.url, "deployer-test")
    await conn.start()
    await conn.wait_connected(10)
    driver = DockerEngineDriver(engine.host, None, extra_labels={TEST_LABEL: TEST_VALUE}, log_discovery_seconds=0.5)

    async def driver_of(environment_id: str) -> DockerEngineDriver:
        return driver

    responder = Tails(conn, driver_of, idle_seconds=2.0)
    await responder.start()
    yield responder
    await responder.stop()
    await driver.close()
    await conn.close()


@pytest.fixture
async def client(nats_server) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


async def printer(docker: aiodocker.Docker, env: str, svc: str) -> str:
    labels = {
        S.L_MANAGED: S.MANAGED_BY,
        S.L_ENV: env,
        S.L_SERVICE: svc,
        S.L_DEPLOYMENT: f"{env}-1",
        TEST_LABEL: TEST_VALUE,
    }
    name = f"slipway-tails-{svc[:8]}"
    container = await docker.containers.create(
        {"Image": BASE_IMAGE, "Cmd": ["sh", "-c", PRINTER], "Labels": labels}, name=name
    )
    await container.start()
    return name


async def request(nc: Any, subject: str, body: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    msg = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    return dict(json.loads(msg.data))


def number(line: dict[str, Any]) -> int:
    return int(line["message"].split()[-1])


async def test_tail_publishes_lines_once_per_service_and_stops_without_keepalives(
    tails: Tails, docker: aiodocker.Docker, client: Any
) -> None:
    env, svc = str(uuid.uuid4()), str(uuid.uuid4())
    name = await printer(docker, env, svc)
    lines: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        lines.append(json.loads(msg.data))

    await client.subscribe(f"logs.{env}.{svc}", cb=collect)
    started_ms = int(time.time() * 1000)
    replies = await asyncio.gather(
        *(request(client, "logsctl.tail", {"environment_id": env, "service_id": svc}) for _ in range(5))
    )
    assert [r["started"] for r in replies].count(True) == 1 and all(r["ok"] for r in replies)
    assert len(tails.tails) == 1
    await wait_until(lambda: len(lines) >= 20, timeout=20, message="no lines published")
    for _ in range(3):  # keep-alives: still one tail
        reply = await request(client, "logsctl.tail", {"environment_id": env, "service_id": svc})
        assert reply["started"] is False and reply["since_ms"] == replies[0]["since_ms"]
        await asyncio.sleep(0.3)
    assert len(tails.tails) == 1
    first = lines[0]
    assert set(first) == {
        "service_id",
        "pod_name",
        "container_name",
        "deployment_id",
        "stream",
        "timestamp_ms",
        "message",
    }
    assert first["service_id"] == svc and first["pod_name"] == name and first["deployment_id"] == f"{env}-1"
    assert first["timestamp_ms"] >= started_ms - 1000  # a new tail follows from now, not the whole history
    assert {x["stream"] for x in lines} == {"stdout", "stderr"}
    assert all(x["stream"] == ("stderr" if number(x) % 4 == 0 else "stdout") for x in lines)
    numbers = sorted(number(x) for x in lines)
    assert len(numbers) == len(set(numbers))  # one tail: no line twice
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # and none missing
    # no keep-alive for idle_seconds: the tail stops and nothing more is published
    await wait_until(lambda: not tails.tails, timeout=10, message="tail never stopped")
    await asyncio.sleep(0.3)
    count = len(lines)
    await asyncio.sleep(1.0)
    assert len(lines) == count
    # a request after that starts a fresh tail
    reply = await request(client, "logsctl.tail", {"environment_id": env, "service_id": svc})
    assert reply["started"] is True
    await wait_until(lambda: len(lines) > count + 5, timeout=20)


async def test_history_in_the_reply_and_status(tails: Tails, docker: aiodocker.Docker, client: Any) -> None:
    tails.idle_seconds = 30  # (a slow engine read must not let the tail expire between the two requests)
    env, svc = str(uuid.uuid4()), str(uuid.uuid4())
    since = int(time.time() * 1000) - 5000
    name = await printer(docker, env, svc)
    await asyncio.sleep(1.5)
    reply = await request(client, "logsctl.tail", {"environment_id": env, "service_id": svc, "since_ms": since})
    assert reply["ok"] and reply["started"] is True
    history = reply["history"]
    assert [number(x) for x in history if x["stream"] == "stdout"][:3] == [1, 2, 3]  # from the container's start
    assert all(x["timestamp_ms"] >= since for x in history)
    # an existing tail: older history comes in the reply, the tail is kept
    again = await request(client, "logsctl.tail", {"environment_id": env, "service_id": svc, "since_ms": since})
    assert again["started"] is False and number(again["history"][0]) in (1, 2)
    assert len(tails.tails) == 1

    status = await request(client, "logsctl.status", {"environment_id": env})
    assert status["ok"]
    (service,) = status["services"]
    assert service["service_id"] == svc and service["state"] == "RUNNING"
    (instance,) = service["instances"]
    assert instance["name"] == name and instance["deployment_id"] == f"{env}-1" and instance["started_at_ms"] > 0
    empty = await request(client, "logsctl.status", {"environment_id": str(uuid.uuid4())})
    assert empty == {"ok": True, "services": []}
    bad = await request(client, "logsctl.tail", {"environment_id": "a.b", "service_id": svc})
    assert bad["ok"] is False and "bad tail request" in bad["error"]
