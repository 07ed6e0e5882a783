"""Readiness and liveness probes run by the deployer itself (HTTP GET, TCP connect, exec), engine-agnostic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from slipway.desired import ProbeSpec

log = logging.getLogger(__name__)

# runs a command in the instance: (argv, timeout) → exit code
ExecFn = Callable[[list[str], float], Awaitable[int]]
# None while the instance runs, else why it does not (e.g. "exited with code 1")
AliveFn = Callable[[], Awaitable[str | None]]


class ProbeFailed(Exception):
    """The instance never became ready (or died while we waited)."""


@dataclass
class ProbeTarget:
    """One instance to probe: its address on the engine's network and how to exec in it."""

    name: str
    ip: str
    exec: ExecFn
    alive: AliveFn


async def check(probe: ProbeSpec, target: ProbeTarget, client: httpx.AsyncClient) -> str | None:
    """Run the probe once: None on success, else what failed."""
    timeout = max(probe.timeout_seconds, 0.1)
    try:
        if probe.kind == "http":
            scheme = (probe.scheme or "http").lower()
            path = probe.path or "/"
            url = f"{scheme}://{target.ip}:{probe.port}{path if path.startswith('/') else '/' + path}"
            r = await client.get(url, timeout=timeout)
            return None if 200 <= r.status_code < 400 else f"GET {path} answered {r.status_code}"
        if probe.kind == "exec":
            code = await target.exec(list(probe.command or ["true"]), timeout)
            return None if code == 0 else f"command exited with {code}"
        # tcp, and grpc (a connect check: the gRPC health protocol needs a client this driver lacks)
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.ip, probe.port), timeout)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        return f"{probe.kind} probe on port {probe.port}: {type(exc).__name__} {exc}".strip()


async def wait_ready(
    probe: ProbeSpec | None,
    target: ProbeTarget,
    client: httpx.AsyncClient,
    deadline_seconds: float,
    settle_seconds: float = 1.0,
) -> None:
    """Wait for `success_threshold` consecutive successes; raise ProbeFailed after `failure_threshold`
    consecutive failures, when the instance stops running, or at the deadline."""
    deadline = time.monotonic() + deadline_seconds
    if probe is None:
        # no probe and no port: ready once the process has stayed up for a moment
        await asyncio.sleep(settle_seconds)
        if (reason := await target.alive()) is not None:
            raise ProbeFailed(f"{target.name} {reason}")
        return
    await _sleep_watching(target, probe.initial_delay_seconds)
    successes = failures = 0
    while True:
        if (reason := await target.alive()) is not None:
            raise ProbeFailed(f"{target.name} {reason}")
        detail = await check(probe, target, client)
        if detail is None:
            successes, failures = successes + 1, 0
            if successes >= max(probe.success_threshold, 1):
                return
        else:
            successes, failures = 0, failures + 1
            if failures >= max(probe.failure_threshold, 1):
                raise ProbeFailed(f"{target.name} readiness probe failed {failures} times: {detail}")
        if time.monotonic() > deadline:
            raise ProbeFailed(f"{target.name} not ready within {deadline_seconds:.0f}s: {detail or 'still starting'}")
        if successes == 0 and probe.kind in QUICK_KINDS:
            if not await _quick_probes(probe, target, client):
                continue  # the quick probes filled the period: the next periodic probe is due
            successes, failures = 1, 0  # ready between two periodic probes (quick misses are not failures)
            if successes >= max(probe.success_threshold, 1):
                return
        await _sleep_watching(target, probe.period_seconds)


QUICK_KINDS = {"http", "tcp"}  # cheap to repeat; an exec probe is a process in the instance each time
QUICK_FIRST, QUICK_MAX = 0.05, 0.25  # seconds between quick probes, growing by a quarter


async def _quick_probes(probe: ProbeSpec, target: ProbeTarget, client: httpx.AsyncClient) -> bool:
    """Until the first success, a starting instance is also probed at short, growing intervals within the
    period: it is seen ready when it is, not up to a period later. Only the periodic probes count failures
    (failure_threshold keeps its meaning); returns True as soon as a quick probe succeeds."""
    end = time.monotonic() + probe.period_seconds
    interval = QUICK_FIRST
    while time.monotonic() + interval < end:
        await asyncio.sleep(interval)
        if await check(probe, target, client) is None:
            return True
        if (reason := await target.alive()) is not None:
            raise ProbeFailed(f"{target.name} {reason}")
        interval = min(interval * 1.25, QUICK_MAX)
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    return False


async def _sleep_watching(target: ProbeTarget, seconds: float) -> None:
    """Sleep, but notice within ~0.5 s if the instance dies meanwhile."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 0.5))
        if left > 0.5 and (reason := await target.alive()) is not None:
            raise ProbeFailed(f"{target.name} {reason}")


class LivenessWatcher:
    """Probes a service's instances every period; after `failure_threshold` consecutive failures of one
    instance, `restart` is called for it (then its initial delay applies again). Start/stop like a service."""

    def __init__(
        self,
        service_id: str,
        probe: ProbeSpec,
        targets: Callable[[], Awaitable[list[ProbeTarget]]],
        restart: Callable[[ProbeTarget, str], Awaitable[None]],
        client: httpx.AsyncClient,
    ) -> None:
        self.service_id = service_id
        self.probe = probe
        self._targets = targets
        self._restart = restart
        self._client = client
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"liveness-{self.service_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        failures: dict[str, int] = {}
        quiet_until: dict[str, float] = {}  # a restarted instance gets its initial delay again
        await asyncio.sleep(self.probe.initial_delay_seconds)
        while True:
            try:
                for target in await self._targets():
                    if time.monotonic() < quiet_until.get(target.name, 0) or await target.alive() is not None:
                        continue  # the engine's restart policy owns crashed processes
                    detail = await check(self.probe, target, self._client)
                    failures[target.name] = 0 if detail is None else failures.get(target.name, 0) + 1
                    if detail is not None and failures[target.name] >= max(self.probe.failure_threshold, 1):
                        failures[target.name] = 0
                        self.restarts += 1
                        await self._restart(target, f"liveness probe failed: {detail}")
                        quiet_until[target.name] = time.monotonic() + self.probe.initial_delay_seconds
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a watcher survives engine hiccups
                log.warning("liveness round failed", exc_info=True, extra={"service_id": self.service_id})
            await asyncio.sleep(max(self.probe.period_seconds, 0.2))
