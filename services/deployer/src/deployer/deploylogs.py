"""The deployment log of one execution: masked lines published on `deploylogs.<execution_id>`."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from slipway.deploylog import DeployLogLine, Masker, Step, now_ms, publish
from slipway.desired import DesiredState, ServiceSpec

log = logging.getLogger("deployer.deploylogs")


def secrets_of(state: DesiredState) -> list[str]:
    """Every value of the environment a log line must never show."""
    secrets = [v for s in state.services for k, v in s.env.items() if k in s.secret_keys]
    secrets += [f.content for s in state.services for f in s.files if f.is_secret]
    secrets += [s.git.token for s in state.services if s.git and s.git.token]  # type: ignore[misc]
    secrets += [s.database.password for s in state.services if s.database]
    return secrets


class DeploymentLog:
    """Numbers lines per execution so a re-published line is dropped by JetStream's de-duplication. Lines are
    published in order by one background task, so the deployment never waits for an acknowledgement;
    `flush()` waits until every line written so far is published."""

    def __init__(self, nats: Any, execution_id: str, state: DesiredState, attempt: int = 1) -> None:
        self.nats = nats
        self.execution_id = execution_id
        self.state = state
        # an execution taken over after a crash continues numbering in a fresh block
        self.seq = (attempt - 1) * 1_000_000
        self._secrets = secrets = secrets_of(state)
        self.mask = Masker(secrets)
        self._pending: deque[DeployLogLine] = deque()
        self._drainer: asyncio.Task[None] | None = None

    def add_secrets(self, values: list[str]) -> None:
        """Values learnt during the execution (a job's sensitive outputs): masked from now on."""
        self._secrets = [*self._secrets, *values]
        self.mask = Masker(self._secrets)

    async def line(self, step: Step, message: str, service: ServiceSpec | None = None, level: str = "INFO") -> None:
        self.seq += 1
        entry = DeployLogLine(
            execution_id=self.execution_id,
            organization_id=self.state.organization_id,
            project_id=self.state.project_id,
            environment_id=self.state.environment_id,
            cluster_id=self.state.cluster.id,
            service_id=service.id if service else None,
            service_kind=service.kind if service else None,
            service_name=service.name if service else None,
            stage_id=service.stage_id if service else None,
            step=step,
            level=level,  # type: ignore[arg-type]
            source="deployer",
            seq=self.seq,
            timestamp_ms=now_ms(),
            message=self.mask(message),
        )
        self._pending.append(entry)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name=f"deploylog-{self.execution_id}")

    async def _drain(self) -> None:
        while self._pending:
            entry = self._pending.popleft()
            js = getattr(self.nats, "js", None)
            if js is None:
                log.warning(
                    "NATS not connected; deployment log line dropped", extra={"execution_id": self.execution_id}
                )
                continue
            try:
                await publish(js, entry)
            except Exception as exc:  # noqa: BLE001 - a log line must never fail a deployment
                log.warning("could not publish a deployment log line: %s", exc)

    async def flush(self) -> None:
        """Wait until every line written so far is published (or given up on)."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)

    def sink(self, step: Step, service: ServiceSpec):  # type: ignore[no-untyped-def]
        """A LogSink (async callable taking a message) bound to one service and step."""

        async def write(message: str) -> None:
            await self.line(step, message, service)

        return write
