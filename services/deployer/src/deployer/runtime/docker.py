"""The docker-engine runtime driver: services as labelled containers on a network per environment (aiodocker).

Works against Docker or Podman's Docker-compatible API. A rollout starts the new instances next to the old
ones, waits for readiness (probes run by the deployer), moves the edge to them, drains, then stops the old
instances and keeps them `retain_replaced_seconds` as *retired* (renamed `<name>--retired-<epoch ms>`: labels
are immutable) so their logs stay readable; a failed rollout removes only what it started.

The edge has two modes, chosen from `GET /version`:
- dynamic (Podman Engine): each environment has a second network, `slipway-<env>-edge`, and only READY
  instances join it, under the alias `e-<service id>`. Caddy's route (created once; re-sent only when hosts,
  port or path change) resolves `<alias>.dns.podman` through aardvark-dns on the edge network's gateway
  (reachable from the host) every second. A rollout connects the new instances, waits until Caddy has resolved
  them, takes the old ones out of the alias (reconnected with the same address, so what Caddy still sends them
  arrives), drains and stops them: Caddy's config never changes, so no reload can reset a client connection.
  Limit: aardvark-dns answers `<name>.dns.podman` per network, so inside a public instance (edge nameserver
  first) only bare names of other services resolve (what applications use, after the search-domain NXDOMAIN).
- static (Docker Engine, whose embedded DNS is not reachable from the host): the route's `ip:port` upstreams
  are PATCHed through the admin API, i.e. one Caddy reload per switch (may reset a pending connection).
Everything the driver needs to find again (service, deployment, spec hash, image, public routes) is in
container labels and network membership, so a restarted deployer adopts what runs (`list_services`, `adopt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiodocker
import httpx
from aiodocker.exceptions import DockerError
from aiodocker.networks import DockerNetwork
from aiodocker.volumes import DockerVolume

from deployer.edge.caddy import CaddyEdge, DynamicUpstreams, EdgeError, Route
from deployer.images import image_ref
from deployer.runtime import hostnet
from deployer.runtime import spec as S
from deployer.runtime.base import Applied, InstanceStatus, LogLine, LogSink, RolloutFailed, ServiceStatus
from deployer.runtime.probes import LivenessWatcher, ProbeFailed, ProbeTarget, wait_ready
from slipway.desired import DesiredState, ServiceSpec
from slipway.dns import wait_for_answer
from slipway.edgedns import edge_name

log = logging.getLogger(__name__)

STOPPED_EXIT_CODES = {0, 143, 137}  # exit codes of a container stopped on purpose (SIGTERM, then SIGKILL)
TAIL_LINES = 20
EDGE_REFRESH = "1s"  # how often Caddy re-resolves a service's edge alias
DNS_CONVERGE_SECONDS = 15.0  # aardvark-dns reloads after each connect/disconnect; slower under load
EDGE_SETTLE_SECONDS = 1.5  # > EDGE_REFRESH: after it, Caddy has resolved newly connected instances


@dataclass
class Instance:
    """One container of a service, as the engine reports it."""

    id: str
    name: str
    labels: dict[str, str]
    state: str  # created running paused restarting exited dead
    ip: str | None = None  # on the environment's internal network (else any)
    networks: dict[str, str] = field(default_factory=dict)  # network name → IP address
    macs: dict[str, str] = field(default_factory=dict)  # network name → MAC address
    aliases: dict[str, list[str]] = field(default_factory=dict)  # network name → DNS aliases
    exit_code: int = 0
    restart_count: int = 0
    started_at_ms: int | None = None
    error: str = ""

    @property
    def service_id(self) -> str:
        return self.labels.get(S.L_SERVICE, "")

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def pod_name(self) -> str:
        """The name the instance was created with (a retired one is renamed)."""
        return S.parse_retired(self.name)[0]

    @property
    def retired_at_ms(self) -> int | None:
        return S.parse_retired(self.name)[1]


@dataclass
class RunningService:
    """What runs for one service, rebuilt from labels (crash recovery, edge reconciliation)."""

    service_id: str
    environment_id: str
    deployment_id: str | None
    spec_hash: str | None
    image: str | None
    kind: str | None
    routes: list[S.PublicRoute] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)  # live ones (running or stopped), not retired
    retired: list[Instance] = field(default_factory=list)


class DockerEngineDriver:
    """RuntimeDriver for docker-engine clusters (APPLICATION, CONTAINER, JOB; DATABASE given an image)."""

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

    # -- engine plumbing -------------------------------------------------------------------------------
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
        found = await self.docker.containers.list(all=True, filters=json.dumps({"label": filters}))
        instances = []
        for container in found:
            with contextlib.suppress(DockerError):  # removed between list and inspect
                instances.append(_instance(await container.show()))
        return sorted(instances, key=lambda i: (i.labels.get(S.L_INSTANCE, ""), i.name))

    async def _service_instances(self, environment_id: str, service_id: str) -> list[Instance]:
        """Every container of the service, retired ones included."""
        return await self._list(**{S.L_ENV: environment_id, S.L_SERVICE: service_id})

    async def _live_instances(self, environment_id: str, service_id: str) -> list[Instance]:
        return _live(await self._service_instances(environment_id, service_id))

    async def _inspect(self, container_id: str) -> Instance:
        return _instance(await self.docker.containers.container(container_id).show())

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
            raise RolloutFailed(f"cannot pull image {image}: {exc.message}") from exc

    async def _retire(self, environment_id: str, instances: list[Instance]) -> None:
        """Stop replaced instances and keep them (renamed as retired, off the edge network) for their logs;
        removed when nothing is kept."""
        retired_at = int(time.time() * 1000)

        async def one(inst: Instance) -> None:
            container = self.docker.containers.container(inst.id)
            with contextlib.suppress(DockerError):
                if inst.running:
                    await container.stop(t=self.stop_timeout)
            await self._edge_disconnect(environment_id, [inst])
            if self.retain_replaced_seconds > 0:
                try:
                    if inst.retired_at_ms is None:
                        await container.rename(S.retired_name(inst.name, retired_at))
                    return
                except DockerError as exc:
                    log.warning("could not retire %s, removing it: %s", inst.name, exc.message)
            with contextlib.suppress(DockerError):
                await container.delete(force=True)

        await asyncio.gather(*(one(i) for i in instances))

    async def _prune_retired(self, instances: list[Instance]) -> None:
        """Remove retired instances older than `retain_replaced_seconds`."""
        cutoff = time.time() * 1000 - self.retain_replaced_seconds * 1000
        await self._remove([i for i in instances if i.retired_at_ms is not None and i.retired_at_ms <= cutoff])

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

    async def _ensure_network(self, state: DesiredState, name: str | None = None) -> str:
        name = name or S.network_name(state.environment_id)
        async with self._network_lock:
            try:
                await self.docker.networks.get(name)
                return name
            except DockerError as exc:
                if exc.status != 404:
                    raise
            labels = {
                **self.extra_labels,
                S.L_MANAGED: S.MANAGED_BY,
                S.L_ORG: state.organization_id,
                S.L_PROJECT: state.project_id,
                S.L_ENV: state.environment_id,
            }
            await self.docker.networks.create({"Name": name, "Driver": "bridge", "Labels": labels})
            return name

    async def _drop_network_if_empty(self, environment_id: str) -> None:
        async with self._network_lock:
            if await self._list(**{S.L_ENV: environment_id}):
                return
            for name in (S.edge_network_name(environment_id), S.network_name(environment_id)):
                self._gateways.pop(name, None)
                with contextlib.suppress(DockerError):  # already gone, or an unmanaged container still uses it
                    network = await self.docker.networks.get(name)
                    await network.delete()

    async def _edge_gateway(self, environment_id: str) -> str | None:
        """The edge network's gateway IP: where aardvark-dns answers for it (None when there is no network)."""
        return await self._gateway(S.edge_network_name(environment_id))

    async def _gateway(self, name: str) -> str | None:
        """A network's IPv4 gateway (its bridge on the engine's host); None when there is no such network."""
        if name not in self._gateways:
            try:
                info = await (await self.docker.networks.get(name)).show()
            except DockerError:
                return None
            configs = (info.get("IPAM") or {}).get("Config") or []
            gateway = next((c["Gateway"] for c in configs if c.get("Gateway") and ":" not in c["Gateway"]), None)
            if gateway is None:
                return None
            self._gateways[name] = str(gateway)
        return self._gateways[name]

    async def _pin_bridges(self, *networks: str) -> None:
        """Pin the MAC address of these networks' bridges (see hostnet) before and after containers join or
        leave: otherwise the gateway address every other container has cached may change under it."""
        for name in networks:
            gateway = await self._gateway(name)
            if gateway is not None and gateway not in self._unpinnable:
                if await asyncio.to_thread(hostnet.pin_bridge, gateway) is not None:
                    continue
                here: str | None = await asyncio.to_thread(hostnet.interface_with_address, gateway)
                if here is not None:
                    self._unpinnable.add(gateway)  # here but not pinnable (no CAP_NET_ADMIN): warned once

    async def _edge_connect(self, environment_id: str, service_id: str, instances: list[Instance]) -> None:
        """Put READY instances behind the service's edge alias (Caddy sees them within EDGE_REFRESH)."""
        name, alias = S.edge_network_name(environment_id), S.edge_alias(service_id)
        network = DockerNetwork(self.docker, name)
        await self._pin_bridges(name)
        for inst in instances:
            if alias in inst.aliases.get(name, []):
                continue
            if name in inst.networks:  # connected without the alias (left over from an interrupted rollout)
                await network.disconnect({"Container": inst.id})
            await network.connect({"Container": inst.id, "EndpointConfig": {"Aliases": [alias]}})
        await self._pin_bridges(name)  # the first container on it created the bridge
        # aardvark-dns reloads asynchronously: go on only once it answers the new addresses
        addresses = {(await self._inspect(i.id)).networks.get(name) for i in instances}
        await self._await_dns(environment_id, service_id, lambda found: {a for a in addresses if a} <= found)

    async def _edge_unalias(self, environment_id: str, instances: list[Instance]) -> None:
        """Take instances out of the edge alias but keep their edge address (same IP and MAC, reconnected without
        the alias): Caddy stops choosing them within EDGE_REFRESH, and what it still sends them meanwhile (cached
        addresses, in-flight requests, pooled connections) reaches them. Without the address, such a request hangs."""
        name = S.edge_network_name(environment_id)
        network = DockerNetwork(self.docker, name)

        async def one(inst: Instance) -> None:
            with contextlib.suppress(DockerError):  # already gone
                await network.disconnect({"Container": inst.id})
            endpoint: dict[str, Any] = {"Aliases": [], "IPAMConfig": {"IPv4Address": inst.networks[name]}}
            if inst.macs.get(name):
                endpoint["MacAddress"] = inst.macs[name]
            try:
                await network.connect({"Container": inst.id, "EndpointConfig": endpoint})
            except DockerError as exc:  # e.g. the address was taken meanwhile: it just leaves the edge
                log.warning("could not keep %s's edge address while it drains: %s", inst.name, exc.message)

        leaving = [i for i in instances if i.networks.get(name)]
        await self._pin_bridges(name)
        await asyncio.gather(*(one(i) for i in leaving))
        if leaving:  # on only once the alias no longer answers their addresses
            gone = {i.networks[name] for i in leaving}
            await self._await_dns(environment_id, leaving[0].service_id, lambda found: not (gone & found))

    async def _await_dns(self, environment_id: str, service_id: str, done: Callable[[set[str]], bool]) -> None:
        lookup = await self._edge_lookup(environment_id, service_id)
        if lookup is None:
            return
        (server, port), name = lookup
        # through the edge resolver when there is one: what Caddy will be answered, and its last answer refreshed
        if not await wait_for_answer(server, name, done, timeout=DNS_CONVERGE_SECONDS, port=port):
            log.warning("the edge DNS did not converge for %s within %ss", name, DNS_CONVERGE_SECONDS)

    async def _edge_lookup(self, environment_id: str, service_id: str) -> tuple[tuple[str, int], str] | None:
        """((DNS server, port), name) Caddy resolves a service's ready instances with; None without a network."""
        gateway = await self._edge_gateway(environment_id)
        if gateway is None:
            return None
        if self.edge_resolver:
            host, _, port = self.edge_resolver.rpartition(":")
            return (host, int(port)), edge_name(S.edge_alias(service_id), gateway)
        return (gateway, 53), f"{S.edge_alias(service_id)}.dns.podman"

    async def _edge_disconnect(self, environment_id: str, instances: list[Instance]) -> None:
        """Take instances off the edge network (alias and address)."""
        name = S.edge_network_name(environment_id)
        network = DockerNetwork(self.docker, name)

        async def one(inst: Instance) -> None:
            with contextlib.suppress(DockerError):  # already gone
                await network.disconnect({"Container": inst.id})

        await asyncio.gather(*(one(i) for i in instances if name in i.networks))

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

    # -- apply ---------------------------------------------------------------------------------------------
    async def apply(
        self, state: DesiredState, service: ServiceSpec, image: str | None, deployment_id: str, log: LogSink
    ) -> Applied:
        image = image or image_ref(service)
        if service.kind == "HELM":
            raise RolloutFailed("helm charts run on kubernetes clusters only")
        if image is None:
            raise RolloutFailed(f"{service.name}: no image to run")
        async with self._lock(service.id):
            image_id = await self._ensure_image(image, service, log)
            routes = S.public_routes(state, service)
            digest = S.spec_hash(service, image, image_id, routes)
            if service.kind == "JOB":
                return await self._run_job(state, service, image, deployment_id, digest, log)
            everything = await self._service_instances(state.environment_id, service.id)
            await self._prune_retired(everything)
            current = _live(everything)
            want = max(service.min_running_instances, 1)
            if (
                len(current) == want
                and all(i.running and i.labels.get(S.L_HASH) == digest for i in current)
                and not any(i.id in self._starting for i in current)
            ):
                if routes and await self._uses_edge_network():  # no-op unless an instance left the edge network
                    await self._ensure_network(state, S.edge_network_name(state.environment_id))
                    await self._edge_connect(state.environment_id, service.id, current)
                await self._route(state.environment_id, service.id, current, routes)  # no-op unless edge lost them
                await self._watch(state.environment_id, service)
                await log(f"{service.name}: {want} instance(s) already run this version")
                return Applied(False, [i.id for i in current], self._urls(routes))
            return await self._rollout(state, service, image, deployment_id, digest, routes, current, log)

    async def _uses_edge_network(self) -> bool:
        return self.edge is not None and await self._dynamic_edge()

    async def _rollout(
        self,
        state: DesiredState,
        service: ServiceSpec,
        image: str,
        deployment_id: str,
        digest: str,
        routes: list[S.PublicRoute],
        current: list[Instance],
        sink: LogSink,
    ) -> Applied:
        network = await self._ensure_network(state)
        dynamic = bool(routes) and await self._uses_edge_network()
        if dynamic:
            await self._ensure_network(state, S.edge_network_name(state.environment_id))
        # a volume is used by one instance at a time: services with volumes are recreated (stop, then start)
        stateful = bool(service.volumes)
        count = 1 if stateful else max(service.min_running_instances, 1)
        new: list[Instance] = []
        old = [i for i in current if i.retired_at_ms is None]
        edge_network = S.edge_network_name(state.environment_id)
        stopped_first: list[Instance] = []
        if stateful and any(i.running for i in old):
            await sink(
                f"{service.name}: stopping the previous instance first (its volumes take one instance at a time)"
            )
            stopped_first = [i for i in old if i.running]
            await self._stop_for_recreate(state.environment_id, stopped_first)
        await sink(f"{service.name}: starting {count} instance(s) of {image}")
        try:
            for n in range(count):
                new.append(await self._start_instance(state, service, image, deployment_id, digest, routes, n, network))
            self._starting.update(i.id for i in new)
            probe = S.readiness_probe(service)
            what = f"{probe.kind} probe" + (f" on port {probe.port}" if probe.port else "") if probe else "no probe"
            await sink(f"{service.name}: waiting for readiness ({what}) of {', '.join(i.name for i in new)}")
            await _all([wait_ready(probe, self._target(i), self._http, self.rollout_timeout, 1.0) for i in new])
            new = [await self._inspect(i.id) for i in new]
            await sink(f"{service.name}: {len(new)} instance(s) ready")
            if dynamic:
                await self._edge_connect(state.environment_id, service.id, new)
                await self._route(state.environment_id, service.id, new, routes)  # unchanged: not re-sent
                if any(edge_network in i.networks for i in old):
                    await asyncio.sleep(EDGE_SETTLE_SECONDS)  # Caddy resolves the new ones next to the old ones
                await sink(f"{service.name}: new instance(s) joined the edge")
            elif routes and self.edge is not None:
                await self._route(state.environment_id, service.id, new, routes)
                await sink(f"{service.name}: edge routes switched to the new instance(s)")
        except BaseException as exc:
            tails = await self._tails(new)
            await self._remove(new)
            if stopped_first:
                await self._restart_after_failed_recreate(state, service, stopped_first, routes, dynamic, sink)
            if isinstance(exc, ProbeFailed | DockerError | EdgeError | RolloutFailed):
                reason = exc.message if isinstance(exc, DockerError) else str(exc)
                kept = " the previous version keeps serving;" if current else ""
                await sink(f"{service.name}: rollout failed:{kept} new instances removed")
                raise RolloutFailed(f"{reason}\n{tails}".strip()) from exc
            raise
        finally:
            self._starting.difference_update(i.id for i in new)
        if not routes and self.edge is not None:
            await self.edge.remove_service(service.id)  # no longer public
        if old:
            on_edge = [i for i in old if edge_network in i.networks]
            if on_edge:
                await self._edge_unalias(state.environment_id, on_edge)
                await sink(f"{service.name}: previous instance(s) left the edge")
            if any(i.running for i in old) and (on_edge or routes) and self.edge is not None and self.drain_seconds > 0:
                await sink(f"{service.name}: draining the previous instance(s) for {self.drain_seconds:g}s")
                await asyncio.sleep(self.drain_seconds)  # Caddy's cached addresses expire, in-flight requests end
            await self._retire(state.environment_id, old)
            kept = (
                f", kept {self.retain_replaced_seconds:g}s for their logs" if self.retain_replaced_seconds > 0 else ""
            )
            await sink(f"{service.name}: stopped {len(old)} previous instance(s){kept}")
        await self._watch(state.environment_id, service)
        return Applied(True, [i.id for i in new], self._urls(routes))

    async def _stop_for_recreate(self, environment_id: str, instances: list[Instance]) -> None:
        """Off the edge (DNS converged), then stopped — kept, so a failed rollout can start them again."""
        if any(S.edge_network_name(environment_id) in i.networks for i in instances):
            await self._edge_unalias(environment_id, instances)

        async def one(inst: Instance) -> None:
            with contextlib.suppress(DockerError):
                await self.docker.containers.container(inst.id).stop(t=self.stop_timeout)

        await asyncio.gather(*(one(i) for i in instances))

    async def _restart_after_failed_recreate(
        self,
        state: DesiredState,
        service: ServiceSpec,
        instances: list[Instance],
        routes: list[S.PublicRoute],
        dynamic: bool,
        sink: LogSink,
    ) -> None:
        """The new version never became ready: start the previous instances again and put them back behind the
        edge (the service was down meanwhile: a volume cannot be shared)."""
        await self._pin_bridges(S.network_name(state.environment_id))
        for inst in instances:
            with contextlib.suppress(DockerError):
                await self.docker.containers.container(inst.id).start()
        await self._pin_bridges(S.network_name(state.environment_id))
        restarted = [await self._inspect(i.id) for i in instances]
        probe = S.readiness_probe(service)
        with contextlib.suppress(ProbeFailed):
            await _all([wait_ready(probe, self._target(i), self._http, self.rollout_timeout, 1.0) for i in restarted])
        if dynamic:
            await self._edge_connect(state.environment_id, service.id, restarted)
        elif routes and self.edge is not None:
            await self._route(state.environment_id, service.id, restarted, routes)
        await sink(f"{service.name}: the previous instance was started again")

    async def _start_instance(
        self,
        state: DesiredState,
        service: ServiceSpec,
        image: str,
        deployment_id: str,
        digest: str,
        routes: list[S.PublicRoute],
        n: int,
        network: str,
        run_to_completion: bool = False,
    ) -> Instance:
        labels = S.labels(state, service, deployment_id, digest, image, routes, n, self.extra_labels)
        config = S.create_config(service, image, network, labels, run_to_completion)
        container = await self.docker.containers.create(config, name=S.container_name(service.id, deployment_id, n))
        try:
            if (archive := S.files_archive(service)) is not None:
                await container.put_archive("/", archive)
            await self._pin_bridges(network)
            await container.start()
            await self._pin_bridges(network)  # the first container on it created the bridge
            return _instance(await container.show())
        except BaseException:
            with contextlib.suppress(DockerError):
                await container.delete(force=True)
            raise

    async def _run_job(
        self, state: DesiredState, service: ServiceSpec, image: str, deployment_id: str, digest: str, sink: LogSink
    ) -> Applied:
        """A job runs to completion: success is exit code 0; its container stays (logs, status) until the next run."""
        network = await self._ensure_network(state)
        await self._remove(await self._service_instances(state.environment_id, service.id))
        inst = await self._start_instance(state, service, image, deployment_id, digest, [], 0, network, True)
        await sink(f"{service.name}: job started ({inst.name})")
        try:
            async with asyncio.timeout(self.job_timeout):
                result = await self.docker.containers.container(inst.id).wait()
        except TimeoutError:
            tails = await self._tails([inst])
            await self._remove([inst])
            raise RolloutFailed(f"job did not finish within {self.job_timeout:g}s\n{tails}".strip()) from None
        code = int(result.get("StatusCode", -1))
        if code != 0:
            raise RolloutFailed(f"job exited with code {code}\n{await self._tails([inst])}".strip())
        await sink(f"{service.name}: job completed")
        return Applied(True, [inst.id])

    async def _route(
        self, environment_id: str, service_id: str, instances: list[Instance], routes: list[S.PublicRoute]
    ) -> None:
        if self.edge is None:
            return
        if not routes:
            await self.edge.remove_service(service_id)
            return
        if await self._dynamic_edge():
            pairs = await self._dynamic_routes(environment_id, service_id, routes)
            if pairs is None:
                raise EdgeError(f"edge network {S.edge_network_name(environment_id)} has no gateway address")
        else:
            pairs = [Route(r.host, f"{i.ip}:{r.port}", r.path_prefix) for r in routes for i in instances if i.ip]
        await self.edge.set_service_routes(service_id, pairs)

    async def _dynamic_routes(
        self, environment_id: str, service_id: str, routes: list[S.PublicRoute]
    ) -> list[Route] | None:
        lookup = await self._edge_lookup(environment_id, service_id)
        if lookup is None:
            return None
        (server, port), name = lookup
        resolver = f"{server}:{port}"
        return [Route(r.host, DynamicUpstreams(name, r.port, resolver, EDGE_REFRESH), r.path_prefix) for r in routes]

    def _urls(self, routes: list[S.PublicRoute]) -> list[str]:
        if self.edge is None:
            return []
        return [self.edge.url(r.host) + (r.path_prefix or "") for r in routes]

    # -- liveness --------------------------------------------------------------------------------------------
    async def _watch(self, environment_id: str, service: ServiceSpec) -> None:
        probe = service.liveness_probe
        existing = self._watchers.get(service.id)
        if existing is not None and (probe is None or existing.probe != probe):
            await self._unwatch(service.id)
            existing = None
        if probe is None or existing is not None:
            return

        async def targets() -> list[ProbeTarget]:
            return [self._target(i) for i in await self._service_instances(environment_id, service.id) if i.running]

        async def restart(target: ProbeTarget, reason: str) -> None:
            log.warning("restarting %s: %s", target.name, reason, extra={"service_id": service.id})
            with contextlib.suppress(DockerError):
                await self.docker.containers.container(target.name).restart(t=self.stop_timeout)

        watcher = LivenessWatcher(service.id, probe, targets, restart, self._http)
        self._watchers[service.id] = watcher
        watcher.start()

    async def _unwatch(self, service_id: str) -> None:
        watcher = self._watchers.pop(service_id, None)
        if watcher is not None:
            await watcher.stop()

    def watcher(self, service_id: str) -> LivenessWatcher | None:
        return self._watchers.get(service_id)

    # -- stop, restart, delete ------------------------------------------------------------------------------
    async def stop(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None:
        """Take the service off the edge and stop its containers (kept for logs; a later apply starts fresh)."""
        async with self._lock(service.id):
            await self._unwatch(service.id)
            instances = await self._live_instances(state.environment_id, service.id)
            await self._edge_disconnect(state.environment_id, instances)
            if self.edge is not None:
                await self.edge.remove_service(service.id)

            async def one(inst: Instance) -> None:
                with contextlib.suppress(DockerError):
                    await self.docker.containers.container(inst.id).stop(t=self.stop_timeout)

            await asyncio.gather(*(one(i) for i in instances if i.running))
            await log(f"{service.name}: stopped {len(instances)} instance(s)")

    async def restart(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None:
        """Replace every instance by a fresh one of the same image and deployment (zero downtime)."""
        async with self._lock(service.id):
            everything = await self._service_instances(state.environment_id, service.id)
            await self._prune_retired(everything)
            current = _live(everything)
            if not current:
                raise RolloutFailed(f"{service.name}: nothing to restart (never deployed, or deleted)")
            newest = current[-1].labels
            image = newest.get(S.L_IMAGE) or image_ref(service)
            if image is None:
                raise RolloutFailed(f"{service.name}: no image to restart")
            deployment_id = newest.get(S.L_DEPLOYMENT, "restart")
            image_id = await self._ensure_image(image, service, log)
            routes = S.public_routes(state, service)
            digest = S.spec_hash(service, image, image_id, routes)
            if service.kind == "JOB":
                await self._run_job(state, service, image, deployment_id, digest, log)
                return
            await self._rollout(state, service, image, deployment_id, digest, routes, current, log)

    async def delete(self, environment_id: str, service_id: str, log: LogSink) -> None:
        async with self._lock(service_id):
            await self._unwatch(service_id)
            if self.edge is not None:
                await self.edge.remove_service(service_id)
            instances = await self._service_instances(environment_id, service_id)  # retired ones too
            await self._edge_disconnect(environment_id, instances)
            await self._remove(instances)
            volumes = await self._remove_volumes(service_id)
            await log(f"removed {len(instances)} container(s)" + (f" and {volumes} volume(s)" if volumes else ""))
        self._locks.pop(service_id, None)
        await self._drop_network_if_empty(environment_id)

    async def _remove_volumes(self, service_id: str) -> int:
        """A deleted service's volumes go with it (uninstall keeps none of its resources)."""
        prefix = S.volume_prefix(service_id)
        listed = await self.docker.volumes.list(filters={"name": [prefix]})
        names = [v["Name"] for v in (listed.get("Volumes") or []) if v["Name"].startswith(prefix)]
        for name in names:
            with contextlib.suppress(DockerError):
                await DockerVolume(self.docker, name).delete()
        return len(names)

    async def delete_environment(self, environment_id: str) -> None:
        instances = await self._list(**{S.L_ENV: environment_id})
        for service_id in {i.service_id for i in instances}:
            await self._unwatch(service_id)
            if self.edge is not None:
                await self.edge.remove_service(service_id)
        await self._remove(instances)
        for service_id in {i.service_id for i in instances}:
            await self._remove_volumes(service_id)
        await self._drop_network_if_empty(environment_id)

    # -- status, logs ---------------------------------------------------------------------------------------
    async def status(self, environment_id: str) -> list[ServiceStatus]:
        by_service: dict[str, list[Instance]] = {}
        for inst in _live(await self._list(**{S.L_ENV: environment_id})):
            by_service.setdefault(inst.service_id, []).append(inst)
        result = []
        for service_id, instances in sorted(by_service.items()):
            rows = [
                InstanceStatus(
                    name=i.pod_name,
                    state=self._instance_state(i),
                    restart_count=i.restart_count,
                    started_at_ms=i.started_at_ms,
                    deployment_id=i.labels.get(S.L_DEPLOYMENT),
                    state_reason=_reason(i),
                )
                for i in instances
            ]
            result.append(ServiceStatus(service_id, _service_state([r.state for r in rows]), rows))
        return result

    def _instance_state(self, inst: Instance) -> str:
        job = inst.labels.get(S.L_KIND) == "JOB"
        if inst.state in ("created", "configured", "initialized") or (inst.running and inst.id in self._starting):
            return "STARTING"
        if inst.running:
            return "RUNNING"
        if inst.state in ("restarting", "paused"):
            return "WARNING" if inst.state == "paused" else "ERROR"
        if inst.state in ("stopping", "removing"):
            return "STOPPING"
        if job:
            return "COMPLETED" if inst.exit_code == 0 else "ERROR"
        return "STOPPED" if inst.exit_code in STOPPED_EXIT_CODES else "ERROR"

    async def follow_logs(
        self, environment_id: str, service_id: str, since_ms: int | None = None, follow: bool = True
    ) -> AsyncIterator[LogLine]:
        """stdout and stderr of every instance, timestamped; with `follow`, new instances (rollouts) join.
        Retired instances are included when `since_ms` reaches back into their life."""
        instances = [i for i in await self._service_instances(environment_id, service_id) if _shows(i, since_ms)]
        if not follow:
            lines: list[LogLine] = []
            for inst in instances:
                for stream in ("stdout", "stderr"):
                    with contextlib.suppress(DockerError):
                        chunks = await self.docker.containers.container(inst.id).log(
                            **_log_params(stream, since_ms), follow=False
                        )
                        lines += _parse_lines(inst, stream, "".join(chunks), since_ms)
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
                        if inst.id not in tasks and _shows(inst, since_ms):
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
                **_log_params(stream, since_ms), follow=True
            ):
                partial += chunk
                *complete, partial = partial.split("\n")
                for line in _parse_lines(inst, stream, "\n".join(complete), since_ms):
                    await queue.put(line)
        except DockerError:
            return
        for line in _parse_lines(inst, stream, partial, since_ms):
            await queue.put(line)

    # -- crash recovery -------------------------------------------------------------------------------------
    async def list_services(self, environment_id: str | None = None) -> list[RunningService]:
        """What the engine runs for this deployer, grouped by service, from container labels alone."""
        found = await self._list(**({S.L_ENV: environment_id} if environment_id else {}))
        grouped: dict[str, list[Instance]] = {}
        for inst in found:
            grouped.setdefault(inst.service_id, []).append(inst)
        services = []
        for service_id, instances in grouped.items():
            live = _live(instances)
            newest = max(live or instances, key=lambda i: i.started_at_ms or 0).labels
            services.append(
                RunningService(
                    service_id=service_id,
                    environment_id=newest.get(S.L_ENV, ""),
                    deployment_id=newest.get(S.L_DEPLOYMENT),
                    spec_hash=newest.get(S.L_HASH),
                    image=newest.get(S.L_IMAGE),
                    kind=newest.get(S.L_KIND),
                    routes=S.decode_routes(newest.get(S.L_ROUTES)),
                    instances=live,
                    retired=[i for i in instances if i.retired_at_ms is not None],
                )
            )
        return services

    async def adopt(self, environment_id: str | None = None, prune: bool = False) -> list[RunningService]:
        """Re-apply the edge routes of what runs (after a deployer or Caddy restart); with `prune` (and no
        environment filter), routes of services that no longer run are removed. Dynamic routes come from the
        labels and the edge network's gateway; which instances serve is the edge network's membership."""
        services = await self.list_services(environment_id)
        for env_id in sorted({s.environment_id for s in services}):  # bridges recreated by an engine restart
            await self._pin_bridges(S.network_name(env_id), S.edge_network_name(env_id))
        if self.edge is not None:
            dynamic = await self._dynamic_edge()
            wanted: dict[str, list[Route]] = {}
            for svc in services:
                running = [i for i in svc.instances if i.running and i.labels.get(S.L_HASH) == svc.spec_hash]
                if not running or not svc.routes:
                    continue
                if dynamic:
                    edge_network = S.edge_network_name(svc.environment_id)
                    if any(edge_network in i.networks for i in svc.instances):
                        pairs = await self._dynamic_routes(svc.environment_id, svc.service_id, svc.routes)
                        if pairs:
                            wanted[svc.service_id] = pairs
                    continue
                wanted[svc.service_id] = [
                    Route(r.host, f"{i.ip}:{r.port}", r.path_prefix) for r in svc.routes for i in running if i.ip
                ]
            await self.edge.ensure(wanted, prune=prune and environment_id is None)
        return services

    async def close(self) -> None:
        for service_id in list(self._watchers):
            await self._unwatch(service_id)
        await self._http.aclose()
        if self._docker is not None:
            await self._docker.close()
            self._docker = None


# -- helpers ----------------------------------------------------------------------------------------------------
def _instance(info: dict[str, Any]) -> Instance:
    state = info.get("State") or {}
    labels = (info.get("Config") or {}).get("Labels") or {}
    attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
    networks = {str(name): str(n.get("IPAddress") or "") for name, n in attached.items()}
    macs = {str(name): str(n["MacAddress"]) for name, n in attached.items() if n.get("MacAddress")}
    aliases = {str(name): [str(a) for a in n.get("Aliases") or []] for name, n in attached.items()}
    internal = S.network_name(labels.get(S.L_ENV, ""))
    ip = networks.get(internal) or next((a for a in networks.values() if a), None)
    return Instance(
        id=info["Id"],
        name=str(info.get("Name", "")).lstrip("/"),
        labels=labels,
        state=str(state.get("Status", "unknown")),
        ip=ip,
        networks=networks,
        macs=macs,
        aliases=aliases,
        exit_code=int(state.get("ExitCode") or 0),
        restart_count=int(info.get("RestartCount") or 0),
        started_at_ms=_parse_ms(state.get("StartedAt")),
        error=str(state.get("Error") or ""),
    )


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def _parse_ms(value: Any) -> int | None:
    """RFC 3339 (nanosecond precision allowed) → epoch milliseconds; None for the zero time."""
    match = _TS.match(str(value or ""))
    if not match or match.group(1).startswith("0001"):
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = match.group(3) or "Z"
    parsed = datetime.fromisoformat(match.group(1) + fraction + ("+00:00" if zone == "Z" else zone))
    return int(parsed.timestamp() * 1000)


def _log_params(stream: str, since_ms: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"stdout": stream == "stdout", "stderr": stream == "stderr", "timestamps": True}
    if since_ms:
        params["since"] = since_ms // 1000
    return params


def _parse_lines(inst: Instance, stream: str, text: str, since_ms: int | None) -> list[LogLine]:
    lines = []
    for raw in text.splitlines():
        stamp, _, message = raw.partition(" ")
        ts = _parse_ms(stamp)
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


def _live(instances: list[Instance]) -> list[Instance]:
    """The instances that count (running or stopped), not the retired ones kept for their logs."""
    return [i for i in instances if i.retired_at_ms is None]


def _shows(inst: Instance, since_ms: int | None) -> bool:
    """Whether a log read from `since_ms` includes the instance: a retired one only if it lived after it."""
    retired = inst.retired_at_ms
    return retired is None or (since_ms is not None and since_ms <= retired)


def _reason(inst: Instance) -> str | None:
    if inst.error:
        return inst.error
    if inst.state == "exited" and inst.exit_code not in STOPPED_EXIT_CODES:
        return f"exited with code {inst.exit_code}"
    if inst.state == "restarting":
        return f"restarting after exit code {inst.exit_code} ({inst.restart_count} restarts)"
    return None


def _service_state(states: list[str]) -> str:
    if not states:
        return "STOPPED"
    distinct = set(states)
    if len(distinct) == 1:
        return states[0]
    if "RUNNING" in distinct:
        return "WARNING" if "ERROR" in distinct else "RUNNING"  # e.g. old and new instances during a rollout
    for state in ("ERROR", "STARTING", "STOPPING", "COMPLETED"):
        if state in distinct:
            return state
    return "STOPPED"


async def _all(waits: list[Awaitable[None]]) -> None:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if (exc := task.exception()) is not None:
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["DockerEngineDriver", "Instance", "RunningService"]
