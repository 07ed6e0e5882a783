"""The docker driver's log following: every instance's stdout and stderr, new instances joining."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiodocker.exceptions import DockerError

from deployer.runtime import spec as S
from deployer.runtime.base import LogLine
from deployer.runtime.docker.base import EngineBase
from deployer.runtime.docker.instances import (
    Instance,
    parse_ms,
    shown_since,
)

log = logging.getLogger("deployer.runtime.docker")


class LogFollowing(EngineBase):
    """`follow_logs` of the RuntimeDriver contract on the docker engine."""

    async def follow_logs(
        self, environment_id: str, service_id: str, since_ms: int | None = None, follow: bool = True
    ) -> AsyncIterator[LogLine]:
        """stdout and stderr of every instance, timestamped; with `follow`, new instances (rollouts) join.
        Retired instances are included when `since_ms` reaches back into their life."""
        instances = [i for i in await self._service_instances(environment_id, service_id) if shown_since(i, since_ms)]
        if not follow:
            lines: list[LogLine] = []
            for inst in instances:
                for stream in ("stdout", "stderr"):
                    with contextlib.suppress(DockerError):
                        chunks = await self.docker.containers.container(inst.id).log(
                            **log_params(stream, since_ms), follow=False
                        )
                        lines += parse_lines(inst, stream, "".join(chunks), since_ms)
            for line in sorted(lines, key=lambda x: x.timestamp_ms):
                yield line
            return
        queue: asyncio.Queue[LogLine] = asyncio.Queue(maxsize=10_000)
        tasks: dict[str, list[asyncio.Task[None]]] = {}

        def tail(inst: Instance, since: int | None) -> None:
            tasks[inst.id] = [
                asyncio.create_task(self._pump(inst, stream, since, queue)) for stream in ("stdout", "stderr")
            ]

        for inst in instances:
            tail(inst, since_ms)

        async def discover() -> None:
            while True:
                await asyncio.sleep(self.log_discovery_seconds)
                with contextlib.suppress(DockerError):
                    for inst in await self._service_instances(environment_id, service_id):
                        if inst.id not in tasks and shown_since(inst, since_ms):
                            tail(inst, since_ms)

        discovery = asyncio.create_task(discover())
        try:
            while True:
                yield await queue.get()
        finally:
            discovery.cancel()
            for pending in tasks.values():
                for task in pending:
                    task.cancel()
            await asyncio.gather(discovery, *(t for ts in tasks.values() for t in ts), return_exceptions=True)

    async def _pump(self, inst: Instance, stream: str, since_ms: int | None, queue: asyncio.Queue[LogLine]) -> None:
        partial = ""
        try:
            async for chunk in self.docker.containers.container(inst.id).log(
                **log_params(stream, since_ms), follow=True
            ):
                partial += chunk
                *complete, partial = partial.split("\n")
                for line in parse_lines(inst, stream, "\n".join(complete), since_ms):
                    await queue.put(line)
        except DockerError:
            return
        for line in parse_lines(inst, stream, partial, since_ms):
            await queue.put(line)


def log_params(stream: str, since_ms: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"stdout": stream == "stdout", "stderr": stream == "stderr", "timestamps": True}
    if since_ms:
        params["since"] = since_ms // 1000
    return params


def parse_lines(inst: Instance, stream: str, text: str, since_ms: int | None) -> list[LogLine]:
    lines = []
    for raw in text.splitlines():
        stamp, _, message = raw.partition(" ")
        ts = parse_ms(stamp)
        if ts is None:
            ts, message = int(time.time() * 1000), raw
        # engines that stamp whole seconds only are filtered by the engine's `since` (whole seconds) alone
        if since_ms and "." in stamp and ts < since_ms:
            continue
        lines.append(
            LogLine(
                service_id=inst.service_id,
                pod_name=inst.pod_name,
                container_name=inst.pod_name,
                deployment_id=inst.labels.get(S.L_DEPLOYMENT),
                stream=stream,
                timestamp_ms=ts,
                message=message,
            )
        )
    return lines
