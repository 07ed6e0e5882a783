"""Engine plumbing shared by the docker driver's parts: the client, listing, removing, pulling, probing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiodocker
import httpx
from aiodocker.exceptions import DockerError

from deployer.edge.caddy import CaddyEdge
from deployer.images import database_pull_hint
from deployer.runtime import spec as S
from deployer.runtime.base import LogSink, RolloutFailed
from deployer.runtime.docker.instances import (
    TAIL_LINES,
    Instance,
    instance_from,
    live_only,
)
from deployer.runtime.probes import LivenessWatcher, ProbeTarget
from slipway.desired import ServiceSpec

log = logging.getLogger("deployer.runtime.docker")
T = TypeVar("T")


async def show(container: aiodocker.containers.DockerContainer) -> dict:  # type: ignore[type-arg]
    """A container's inspection. Podman answers 500 "no such process" when the container's process ends while it
    is being inspected (a job that exits at once): asked again, it describes the exited container."""
    for attempt in range(20):
        try:
            return await container.show()  # type: ignore[no-any-return]
        except DockerError as exc:
            if exc.status != 500 or "no such process" not in str(exc.message) or attempt == 19:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


def _lost_in_listing(exc: DockerError) -> bool:
    """Podman fails a whole container listing, or a network's inspection (which lists its containers), with a 500
    when one of those containers is removed meanwhile ("… does not exist in database: no such container")."""
    message = str(exc.message)
    return exc.status == 500 and ("no such container" in message or "container not known" in message)


async def past_removals(call: Callable[[], Awaitable[T]], pause: float = 0.05) -> T:
    """`call`'s answer, asked again (for up to 127 pauses) while a concurrent container removal makes it fail."""
    for attempt in range(8):
        try:
            return await call()
        except DockerError as exc:
            if not _lost_in_listing(exc) or attempt == 7:
                raise
            await asyncio.sleep(pause * 2**attempt)
    raise AssertionError("unreachable")


async def list_containers(
    docker: aiodocker.Docker, filters: str, pause: float = 0.05
) -> list[aiodocker.containers.DockerContainer]:
    """The containers matching `filters` (all states), listed past concurrent removals."""
    return await past_removals(lambda: docker.containers.list(all=True, filters=filters), pause)


ARCHIVE_SLACK = 16 * 1024  # a tar's headers (PAX ones too) and end blocks around one file's data


class ArchiveTooLarge(Exception):
    """The archive goes on past the bytes the caller would read."""


async def read_archive(docker: aiodocker.Docker, container_id: str, path: str, limit: int) -> bytes:
    """The tar the engine answers for `path` in the container, read no further than `limit` bytes of file data plus
    the tar's own framing: a run that wrote gigabytes there never reaches the deployer's memory (ArchiveTooLarge).
    A missing path raises the engine's 404 DockerError."""
    cap = limit + ARCHIVE_SLACK
    data = bytearray()
    async with docker._query(f"containers/{container_id}/archive", method="GET", params={"path": path}) as response:
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > cap:
                raise ArchiveTooLarge(f"{path} is larger than {limit} bytes")
    return bytes(data)


class EngineBase:
    """The driver's state and its engine calls (aiodocker); the edge, logs and rollout parts build on it."""

    def __init__(
        self,
        docker_host: str | None,
        edge: CaddyEdge | None,
        *,
        drain_seconds: float = 2.5,
        stop_timeout: int = 10,
        rollout_timeout: float = 600.0,
        job_timeout: float = 3600.0,
        extra_labels: dict[str, str] | None = None,
        log_discovery_seconds: float = 2.0,
        retain_replaced_seconds: float = 3600.0,
        edge_mode: str = "auto",  # auto (dynamic on Podman, else static) | dynamic | static
        edge_resolver: str | None = None,  # host:port of slipway.edgedns, else Caddy asks aardvark-dns itself
    ) -> None:
        if edge_mode not in ("auto", "dynamic", "static"):
            raise ValueError(f"edge_mode must be auto, dynamic or static, not {edge_mode!r}")
        self.docker_host = docker_host
        self.edge = edge
        self.drain_seconds = drain_seconds
        self.retain_replaced_seconds = retain_replaced_seconds
        self.edge_mode = edge_mode
        self.edge_resolver = edge_resolver
        self._dynamic: bool | None = None if edge_mode == "auto" else edge_mode == "dynamic"
        self._gateways: dict[str, str] = {}  # network name → gateway IP (its bridge; aardvark-dns listens there)
        self._networks: set[str] = set()  # networks known to exist (an engine that lost one: see _create)
        self._unpinnable: set[str] = set()  # gateways whose bridge MAC cannot be pinned from here
        self.stop_timeout = stop_timeout
        self.rollout_timeout = rollout_timeout
        self.job_timeout = job_timeout
        self.extra_labels = dict(extra_labels or {})
        self.log_discovery_seconds = log_discovery_seconds
        self._docker: aiodocker.Docker | None = None
        self._http = httpx.AsyncClient(verify=False, trust_env=False, follow_redirects=False)
        self._locks: dict[str, asyncio.Lock] = {}
        self._network_lock = asyncio.Lock()
        self._watchers: dict[str, LivenessWatcher] = {}
        self._starting: set[str] = set()

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:  # created lazily: aiodocker wants a running event loop
            self._docker = aiodocker.Docker(url=self.docker_host)
        return self._docker

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._locks.setdefault(service_id, asyncio.Lock())

    async def _list(self, **label_filters: str) -> list[Instance]:
        filters = [f"{S.L_MANAGED}={S.MANAGED_BY}"] + [f"{k}={v}" for k, v in label_filters.items()]
        filters += [f"{k}={v}" for k, v in self.extra_labels.items()]
        found = await list_containers(self.docker, json.dumps({"label": filters}))
        instances = []
        for container in found:
            with contextlib.suppress(DockerError):  # removed between list and inspect
                instances.append(instance_from(await show(container)))
        return sorted(instances, key=lambda i: (i.labels.get(S.L_INSTANCE, ""), i.name))

    async def _service_instances(self, environment_id: str, service_id: str) -> list[Instance]:
        """Every container of the service, retired ones included."""
        return await self._list(**{S.L_ENV: environment_id, S.L_SERVICE: service_id})

    async def _live_instances(self, environment_id: str, service_id: str) -> list[Instance]:
        return live_only(await self._service_instances(environment_id, service_id))

    async def _inspect(self, container_id: str) -> Instance:
        return instance_from(await show(self.docker.containers.container(container_id)))

    async def _remove(self, instances: list[Instance]) -> None:
        async def one(inst: Instance) -> None:
            container = self.docker.containers.container(inst.id)
            with contextlib.suppress(DockerError):
                if inst.running:
                    await container.stop(t=self.stop_timeout)
            # Podman refuses a removal while it is still cleaning up a container that has just exited: try again
            for attempt in range(6):
                try:
                    await container.delete(force=True)
                    return
                except DockerError as exc:
                    if exc.status == 404:
                        return
                    if attempt == 5:
                        log.warning("could not remove container %s: %s", inst.name, exc.message)
                        return
                    await asyncio.sleep(0.2 * (attempt + 1))

        await asyncio.gather(*(one(i) for i in instances))

    async def _tails(self, instances: list[Instance], lines: int = TAIL_LINES) -> str:
        parts = []
        for inst in instances:
            with contextlib.suppress(DockerError):
                out = await self.docker.containers.container(inst.id).log(stdout=True, stderr=True, tail=lines)
                text = "".join(out).rstrip()
                if text:
                    parts.append(f"--- last log lines of {inst.name} ---\n{text}")
        return "\n".join(parts)

    async def _ensure_image(self, image: str, service: ServiceSpec, sink: LogSink) -> str | None:
        try:
            return str((await self.docker.images.inspect(image))["Id"])
        except DockerError as exc:
            if exc.status != 404:
                raise RolloutFailed(f"cannot inspect image {image}: {exc.message}") from exc
        await sink(f"pulling {image}")
        auth = None
        if service.image is not None and service.image.registry.username:
            reg = service.image.registry
            auth = {"username": reg.username, "password": reg.password or "", "serveraddress": reg.url}
        try:
            await self.docker.images.pull(image, auth=auth)
            return str((await self.docker.images.inspect(image))["Id"])
        except DockerError as exc:
            raise RolloutFailed(f"cannot pull image {image}: {exc.message}{database_pull_hint(service)}") from exc

    async def _dynamic_edge(self) -> bool:
        """Dynamic upstreams need aardvark-dns (Podman); Docker's embedded DNS is not reachable from the host."""
        if self._dynamic is None:
            try:
                version = await self.docker.version()
            except DockerError:
                return False  # asked again next time
            components = version.get("Components") or []
            self._dynamic = any(str(c.get("Name", "")) == "Podman Engine" for c in components)
        return self._dynamic

    def _target(self, inst: Instance) -> ProbeTarget:
        async def alive() -> str | None:
            try:
                now = await self._inspect(inst.id)
            except DockerError:
                return "was removed"
            if now.restart_count > inst.restart_count:
                return f"restarted (exited with code {now.exit_code})"
            if not now.running:
                return f"is {now.state} (exit code {now.exit_code}{', ' + now.error if now.error else ''})"
            return None

        async def run(argv: list[str], timeout: float) -> int:
            container = self.docker.containers.container(inst.id)
            execution = await container.exec(argv, stdout=True, stderr=True)
            async with asyncio.timeout(timeout):
                async with execution.start(detach=False) as stream:
                    while await stream.read_out() is not None:
                        pass
                for _ in range(50):  # the exit code lands shortly after the stream closes
                    result = await execution.inspect()
                    if not result.get("Running") and result.get("ExitCode") is not None:
                        return int(result["ExitCode"])
                    await asyncio.sleep(0.05)
            return -1

        return ProbeTarget(inst.name, inst.ip or "", run, alive)
