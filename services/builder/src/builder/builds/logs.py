"""One build's deployment log lines: masked, numbered, published on `deploylogs.<execution id>`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from builder.builds.schemas import BuildRequest
from slipway.deploylog import DeployLogLine, Masker, Step, now_ms, publish

log = logging.getLogger("builder.logs")
_last_seq = 0


def next_seq() -> int:
    """Increasing across every build of this process, so lines of two services of one execution never share a
    `Nats-Msg-Id` (microseconds since the epoch: a restarted process goes on above the previous one)."""
    global _last_seq
    _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
    return _last_seq


class BuildLog:
    """Publishes a build's lines; publishing is best effort and never fails the build."""

    def __init__(
        self,
        nats: Any,
        build_id: str,
        request: BuildRequest,
        masker: Masker,
        stopped: Callable[[], None] | None = None,
    ) -> None:
        self.nats = nats
        self.stopped = stopped  # raises CancelledError once the build was asked to stop
        self.build_id = build_id
        self.request = request
        self.mask = masker

    async def __call__(self, message: str, step: Step = "Build", level: str = "INFO") -> None:
        r = self.request
        line = DeployLogLine(
            execution_id=r.deployment_id,
            organization_id=r.organization_id,
            project_id=r.project_id,
            environment_id=r.environment_id,
            service_id=r.service_id,
            service_kind="APPLICATION",
            service_name=r.service_name,
            stage_id=r.stage_id,
            step=step,
            level=level,  # type: ignore[arg-type]
            source="builder",
            seq=next_seq(),
            timestamp_ms=now_ms(),
            message=self.mask(message),
        )
        js = getattr(self.nats, "js", None)
        if js is None:
            log.warning("build %s: NATS not connected, log line dropped", self.build_id)
            return
        try:
            await publish(js, line)
        except Exception as exc:  # noqa: BLE001 - a lost log line must not fail the build
            log.warning("build %s: log line not published: %s", self.build_id, self.mask(str(exc)))

    async def progress(self, message: str) -> None:
        """An engine output line (step Build); a build asked to stop stops here at the latest."""
        await self(message, "Build")
        if self.stopped is not None:
            self.stopped()
