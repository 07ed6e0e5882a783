"""Readiness probes: a starting instance is seen ready when it is (quick probes within the period), and
only the periodic probes count towards failure_threshold."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from deployer.runtime.probes import ProbeFailed, ProbeTarget, wait_ready
from slipway.desired import ProbeSpec


class SlowStarter:
    """An HTTP server on loopback that answers 503 until `ready_after` requests were made, then 200."""

    def __init__(self, ready_after: int) -> None:
        self.ready_after = ready_after
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        status = "200 OK" if self.requests > self.ready_after else "503 Service Unavailable"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


def target() -> ProbeTarget:
    async def run(argv: list[str], timeout: float) -> int:
        return 0

    async def alive() -> str | None:
        return None

    return ProbeTarget("web-0", "127.0.0.1", run, alive)


async def test_a_starting_instance_is_ready_long_before_the_next_period() -> None:
    async with SlowStarter(ready_after=3) as port, httpx.AsyncClient() as client:
        probe = ProbeSpec(kind="http", port=port, path="/", period_seconds=60, failure_threshold=2)
        # the periodic probe fails once and two quick probes miss (threshold 2: had they counted, it would have
        # failed); the third quick probe finds it ready, well within the 60 s period
        await asyncio.wait_for(wait_ready(probe, target(), client, deadline_seconds=120), timeout=15)


async def test_periodic_failures_still_fail_the_rollout() -> None:
    async with SlowStarter(ready_after=10_000) as port, httpx.AsyncClient() as client:
        probe = ProbeSpec(kind="http", port=port, path="/", period_seconds=1, failure_threshold=2)
        with pytest.raises(ProbeFailed, match="readiness probe failed 2 times"):
            await asyncio.wait_for(wait_ready(probe, target(), client, deadline_seconds=60), timeout=30)


async def test_success_threshold_counts_periodic_successes_after_the_first() -> None:
    starter = SlowStarter(ready_after=2)
    async with starter as port, httpx.AsyncClient() as client:
        probe = ProbeSpec(kind="http", port=port, path="/", period_seconds=1, success_threshold=2)
        await asyncio.wait_for(wait_ready(probe, target(), client, deadline_seconds=60), timeout=30)
    # periodic (503), quick (503), quick (200: one success), then the next periodic probe (200: two)
    assert starter.requests == 4
