"""The runtime driver interface: what the deployer asks of any engine (docker engine, Kubernetes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from slipway.desired import DesiredState, ServiceSpec

# A progress line for the deployment log (secrets already masked by the caller's logger).
LogSink = Callable[[str], Awaitable[None]]


class RolloutFailed(Exception):
    """The new version never became ready; the previous version (if any) still serves."""


@dataclass
class Applied:
    """Outcome of `apply`: `changed` is False when the running version already matched."""

    changed: bool
    container_ids: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


@dataclass
class InstanceStatus:
    name: str  # container (pod) name
    state: str  # ServiceStateDto: STARTING RUNNING ERROR STOPPING STOPPED COMPLETED WARNING
    restart_count: int = 0
    started_at_ms: int | None = None
    deployment_id: str | None = None
    state_reason: str | None = None


@dataclass
class ServiceStatus:
    service_id: str
    state: str  # ServiceStateDto
    instances: list[InstanceStatus] = field(default_factory=list)


@dataclass
class LogLine:
    service_id: str
    pod_name: str
    container_name: str
    deployment_id: str | None
    stream: str  # stdout | stderr
    timestamp_ms: int
    message: str


class RuntimeDriver(Protocol):
    async def apply(
        self, state: DesiredState, service: ServiceSpec, image: str | None, deployment_id: str, log: LogSink
    ) -> Applied:
        """Make `service` run `image` (None for kinds that need none): zero-downtime replace, probes,
        edge routes switched only after readiness; raises RolloutFailed leaving the old version serving."""
        ...

    async def stop(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None: ...

    async def restart(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None: ...

    async def delete(self, environment_id: str, service_id: str, log: LogSink) -> None:
        """Remove containers, routes and (when the environment is empty) its network."""
        ...

    async def delete_environment(self, environment_id: str) -> None: ...

    async def status(self, environment_id: str) -> list[ServiceStatus]: ...

    def follow_logs(
        self, environment_id: str, service_id: str, since_ms: int | None = None, follow: bool = True
    ) -> AsyncIterator[LogLine]: ...

    async def close(self) -> None: ...
