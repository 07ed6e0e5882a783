"""The runtime driver interface: what the deployer asks of any engine (docker engine, Kubernetes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from slipway.desired import DesiredState, RegistryRef, ServiceSpec
from slipway.joboutput import OutputValue

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
    output: str = ""  # a job's last log lines (the deployment's log shows them, masked)
    outputs: dict[str, OutputValue] | None = None  # what a job's run wrote to /qovery-output/qovery-output.json


def job_limit(service: ServiceSpec, default: float) -> float:
    """A job run's maximum duration: its own `max_duration_seconds`, else the deployer's limit."""
    own = service.job.max_duration_seconds if service.job is not None else None
    return float(own) if own else default


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


@dataclass(frozen=True)
class ImageTarget:
    """Where the builder puts a service's image for an engine: `repository` names it; `registry` is where it is
    pushed (with push credentials), None when the engine runs the builder's local image; `pull_secret` is what
    the engine's nodes pull with (the same registry's credentials, or None for an open registry)."""

    repository: str
    registry: RegistryRef | None = None
    pull_secret: RegistryRef | None = None


class RuntimeDriver(Protocol):
    """What the runner, endpoints, tails and events need of an engine. Cancelling the task that runs `apply`
    rolls the service back: what served before keeps serving and nothing the apply started remains."""

    engine: str  # "docker" (Docker or Podman Engine API) | "kubernetes"
    # True: a CRON job's apply hands its schedule to the engine (a Kubernetes CronJob); False: the deployer's
    # own scheduler (scheduler.py) runs it at each fire time
    schedules_cron: bool

    def image_target(self, state: DesiredState, service: ServiceSpec) -> ImageTarget:
        """Where a built image of `service` goes so that this engine can run it."""
        ...

    async def adopt(self, environment_id: str | None = None, prune: bool = False) -> object:
        """After a deployer or edge restart: route again what already runs (one environment, or all); `prune`
        (all environments only) drops the routes of what no longer runs."""
        ...

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
