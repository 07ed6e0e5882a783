"""Test doubles for the runner's collaborators: an in-memory runtime driver that records what it was asked (and
can fail or wait on cue), and catalog's desired-state routes answering one state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from deployer.clients import UpstreamError
from deployer.runtime.base import Applied, ImageTarget, LogLine, LogSink, RolloutFailed, ServiceStatus
from slipway.desired import (
    ClusterTarget,
    DesiredState,
    ImageSource,
    JobSchedule,
    RegistryRef,
    ServiceSpec,
    StageSpec,
    content_version,
)


@dataclass
class FakeDriver:
    """Every call is appended to `calls` as (verb, service name); `fail` names services whose apply fails,
    `hold` services whose apply waits until their event is set (to observe parallelism and cancel)."""

    names: dict[str, str] = field(default_factory=dict)  # service id -> name, for the record
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    overlap: int = 0  # the most applies in flight at once
    engine: str = "fake"
    schedules_cron: bool = False

    def image_target(self, state: DesiredState, service: ServiceSpec) -> ImageTarget:
        return ImageTarget(f"fake.registry/slipway/{service.id}")

    async def adopt(self, environment_id: str | None = None, prune: bool = False) -> object:
        self.calls.append(("adopt", environment_id or "*"))
        return []

    async def apply(
        self, state: DesiredState, service: ServiceSpec, image: str | None, deployment_id: str, log: LogSink
    ) -> Applied:
        self.calls.append(("apply", service.name))
        self.running.add(service.name)
        self.overlap = max(self.overlap, len(self.running))
        try:
            if service.name in self.hold:
                await self.hold[service.name].wait()
            else:
                await asyncio.sleep(0.05)
            if service.name in self.fail:
                raise RolloutFailed(f"{service.name} never became ready")
            await log(f"{service.name}: applied {image}")
            return Applied(True, [f"c-{service.name}"])
        finally:
            self.running.discard(service.name)

    async def stop(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None:
        self.calls.append(("stop", service.name))

    async def restart(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None:
        self.calls.append(("restart", service.name))

    async def delete(self, environment_id: str, service_id: str, log: LogSink) -> None:
        self.calls.append(("delete", self.names.get(service_id, service_id)))

    async def delete_environment(self, environment_id: str) -> None:
        self.calls.append(("delete_environment", environment_id))

    async def status(self, environment_id: str) -> list[ServiceStatus]:
        return []

    async def follow_logs(
        self, environment_id: str, service_id: str, since_ms: int | None = None, follow: bool = True
    ) -> AsyncIterator[LogLine]:
        if False:  # pragma: no cover - an async generator that yields nothing
            yield

    async def close(self) -> None:
        return None


class FakeCatalog:
    """catalog's internal desired-state and tombstone routes for one environment (404 once `gone`)."""

    def __init__(self, state: DesiredState) -> None:
        self.state = state
        self.gone = False
        self.dropped: list[str] = []
        self.versions: list[tuple[str, str, str]] = []  # (service id, kind, commit or tag) recorded

    async def desired_state(self, environment_id: str) -> DesiredState:
        if self.gone or environment_id != self.state.environment_id:
            raise UpstreamError(404, "environment not found")
        return self.state

    async def sealed_state(self, environment_id: str) -> DesiredState:
        if self.gone or environment_id != self.state.environment_id:
            raise UpstreamError(404, "environment not found")
        sealed = self.state.model_copy(deep=True)
        for spec in sealed.services:
            spec.spec_digest = content_version(spec.model_dump(mode="json", exclude={"env", "spec_digest"}))
        return sealed

    async def service_sealed_state(self, service_id: str) -> DesiredState:
        if self.state.service(service_id) is None:
            raise UpstreamError(404, "service not found")
        sealed = await self.sealed_state(self.state.environment_id)
        sealed.services = [s for s in sealed.services if s.id == service_id]
        return sealed

    async def set_version(
        self, service_id: str, kind: str, *, git_commit_id: str | None = None, image_tag: str | None = None
    ) -> DesiredState:
        spec = self.state.service(service_id)
        if spec is None or spec.kind != kind:
            raise UpstreamError(404, f"{kind.lower()} not found")
        self.versions.append((service_id, kind, git_commit_id or image_tag or ""))
        if image_tag and spec.image is not None:
            spec.image = spec.image.model_copy(update={"tag": image_tag})
        return await self.service_sealed_state(service_id)

    async def project_environments(self, project_id: str) -> list[str]:
        return [self.state.environment_id] if project_id == self.state.project_id else []

    async def tombstone(self, tombstone_id: str) -> DesiredState:
        if tombstone_id in self.dropped or tombstone_id != self.state.environment_id:
            raise UpstreamError(404, "no deletion pending under this id")
        return self.state

    async def drop_tombstone(self, tombstone_id: str) -> None:
        self.dropped.append(tombstone_id)


REGISTRY = RegistryRef(id="r", url="127.0.0.1:5000", kind="GENERIC_CR")


def container(name: str) -> ServiceSpec:
    return ServiceSpec(
        id=str(uuid.uuid4()),
        kind="CONTAINER",
        name=name,
        internal_host=name,
        host_slug=name,
        image=ImageSource(registry=REGISTRY, image_name=name, tag="1"),
    )


def lifecycle_job(name: str, **events: bool) -> ServiceSpec:
    spec = container(name).model_copy(update={"kind": "JOB"})
    spec.job = JobSchedule(kind="LIFECYCLE", **events)
    return spec


def environment(*stages: list[ServiceSpec]) -> DesiredState:
    """A state whose stages hold the given services, in order."""
    specs = [s for stage in stages for s in stage]
    return DesiredState(
        organization_id=str(uuid.uuid4()),
        project_id=str(uuid.uuid4()),
        environment_id=str(uuid.uuid4()),
        environment_name="fake",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c", engine="podman", engine_host=None, base_domain="localhost"),
        stages=[
            StageSpec(id=str(uuid.uuid4()), name=f"s{n}", deployment_order=n, service_ids=[s.id for s in stage])
            for n, stage in enumerate(stages)
        ],
        services=specs,
    ).seal()
