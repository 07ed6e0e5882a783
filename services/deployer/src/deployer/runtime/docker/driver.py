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
import io
import logging
import tarfile
import time

import httpx
from aiodocker.exceptions import DockerError
from aiodocker.networks import DockerNetwork
from aiodocker.volumes import DockerVolume

from deployer.edge.caddy import EdgeError, Route
from deployer.images import image_ref
from deployer.runtime import spec as S
from deployer.runtime.base import (
    Applied,
    ImageTarget,
    InstanceStatus,
    LogSink,
    RolloutFailed,
    ServiceStatus,
    job_limit,
)
from deployer.runtime.docker.base import ArchiveTooLarge, read_archive, show
from deployer.runtime.docker.edgenet import EdgeNetworking
from deployer.runtime.docker.instances import (
    EDGE_SETTLE_SECONDS,
    STOPPED_EXIT_CODES,
    Instance,
    RunningService,
    all_or_none,
    failure_reason,
    instance_from,
    live_only,
    service_state,
)
from deployer.runtime.docker.logs import LogFollowing
from deployer.runtime.probes import LivenessWatcher, ProbeFailed, ProbeTarget, wait_ready
from slipway.desired import DesiredState, ServiceSpec
from slipway.joboutput import MAX_FILE_BYTES, OUTPUT_FILE, OutputError, OutputValue, parse

log = logging.getLogger("deployer.runtime.docker")


class DockerEngineDriver(EdgeNetworking, LogFollowing):
    """RuntimeDriver for docker-engine clusters (APPLICATION, CONTAINER, JOB; DATABASE given an image)."""

    engine = "docker"
    schedules_cron = False  # the deployer's scheduler runs CRON jobs here

    def image_target(self, state: DesiredState, service: ServiceSpec) -> ImageTarget:
        """The engine runs what the builder built on it: a local name, nothing pushed."""
        return ImageTarget(f"localhost/slipway/{service.id}")

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
            current = live_only(everything)
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
        # nothing of the service is on the edge yet (a first deploy): the new instances join its alias as they
        # are created, so the edge DNS has their addresses by the time they are ready (no route exists before)
        early_edge = dynamic and not any(edge_network in i.networks for i in old)
        early_route: asyncio.Future[None] | None = None
        try:
            for n in range(count):
                new.append(
                    await self._start_instance(
                        state, service, image, deployment_id, digest, routes, n, network, early_edge=early_edge
                    )
                )
            self._starting.update(i.id for i in new)
            probe = S.readiness_probe(service)
            what = f"{probe.kind} probe" + (f" on port {probe.port}" if probe.port else "") if probe else "no probe"
            await sink(f"{service.name}: waiting for readiness ({what}) of {', '.join(i.name for i in new)}")
            if early_edge:  # nothing served the host before: its route may go in while the instances start
                early_route = asyncio.ensure_future(self._route(state.environment_id, service.id, new, routes))
            await all_or_none([wait_ready(probe, self._target(i), self._http, self.rollout_timeout, 1.0) for i in new])
            new = [await self._inspect(i.id) for i in new]
            await sink(f"{service.name}: {len(new)} instance(s) ready")
            if dynamic:
                await self._edge_connect(state.environment_id, service.id, new)
                if early_route is not None:
                    await early_route
                else:
                    await self._route(state.environment_id, service.id, new, routes)  # unchanged: not re-sent
                if any(edge_network in i.networks for i in old):
                    await asyncio.sleep(EDGE_SETTLE_SECONDS)  # Caddy resolves the new ones next to the old ones
                await sink(f"{service.name}: new instance(s) joined the edge")
            elif routes and self.edge is not None:
                await self._route(state.environment_id, service.id, new, routes)
                await sink(f"{service.name}: edge routes switched to the new instance(s)")
        except BaseException as exc:
            if early_route is not None:  # a first deploy that failed: the host goes back to nobody's
                early_route.cancel()
                await asyncio.gather(early_route, return_exceptions=True)
                if self.edge is not None:
                    with contextlib.suppress(EdgeError, httpx.HTTPError):
                        await self.edge.remove_service(service.id)
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
            await all_or_none(
                [wait_ready(probe, self._target(i), self._http, self.rollout_timeout, 1.0) for i in restarted]
            )
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
        early_edge: bool = False,
    ) -> Instance:
        labels = S.labels(state, service, deployment_id, digest, image, routes, n, self.extra_labels)
        config = S.create_config(service, image, network, labels, run_to_completion)
        name = S.container_name(service.id, deployment_id, n)
        try:
            container = await self.docker.containers.create(config, name=name)
        except DockerError as exc:
            if exc.status != 404 or not self._networks:
                raise
            self._networks.clear()  # a network removed behind our back (engine reset): make it again, once
            await self._ensure_network(state, network)
            if early_edge:
                await self._ensure_network(state, S.edge_network_name(state.environment_id))
            container = await self.docker.containers.create(config, name=name)
        try:
            if (archive := S.files_archive(service)) is not None:
                await container.put_archive("/", archive)
            if early_edge:
                edge = S.edge_network_name(state.environment_id)
                await DockerNetwork(self.docker, edge).connect(
                    {"Container": container.id, "EndpointConfig": {"Aliases": [S.edge_alias(service.id)]}}
                )
            joined = (network, S.edge_network_name(state.environment_id)) if early_edge else (network,)
            await self._pin_bridges(*joined)
            await container.start()
            await self._pin_bridges(*joined)  # the first container on it created the bridge
            return instance_from(await show(container))
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
        limit = job_limit(service, self.job_timeout)
        try:
            async with asyncio.timeout(limit):
                result = await self.docker.containers.container(inst.id).wait()
        except TimeoutError:
            tails = await self._tails([inst])
            await self._remove([inst])
            raise RolloutFailed(
                f"job did not finish within its maximum duration ({limit:g}s)\n{tails}".strip()
            ) from None
        code = int(result.get("StatusCode", -1))
        if code != 0:
            raise RolloutFailed(f"job exited with code {code}\n{await self._tails([inst])}".strip())
        outputs = await self._outputs(inst)
        await sink(f"{service.name}: job completed")
        return Applied(True, [inst.id], output=await self._tails([inst]), outputs=outputs)

    async def _outputs(self, inst: Instance) -> dict[str, OutputValue] | None:
        """What the run wrote to /qovery-output/qovery-output.json (None: no file); a malformed one fails the run."""
        try:
            raw_tar = await read_archive(self.docker, inst.id, OUTPUT_FILE, MAX_FILE_BYTES)
        except ArchiveTooLarge as exc:
            raise RolloutFailed(f"{exc}: at most {MAX_FILE_BYTES} bytes") from None
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise RolloutFailed(f"cannot read the job's {OUTPUT_FILE}: {exc.message}") from exc
        try:
            archive = tarfile.open(fileobj=io.BytesIO(raw_tar))
        except tarfile.TarError as exc:
            raise RolloutFailed(f"cannot read the job's {OUTPUT_FILE}: {exc}") from None
        with archive:
            member = next((m for m in archive.getmembers() if m.isfile()), None)
            handle = archive.extractfile(member) if member is not None else None
            if handle is None:
                raise RolloutFailed(f"{OUTPUT_FILE} is not a file")
            if member is not None and member.size > MAX_FILE_BYTES:
                raise RolloutFailed(f"{OUTPUT_FILE} is {member.size} bytes: at most {MAX_FILE_BYTES}")
            raw = handle.read()
        try:
            return parse(raw)
        except OutputError as exc:
            raise RolloutFailed(str(exc)) from None

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
            current = live_only(everything)
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

    async def status(self, environment_id: str) -> list[ServiceStatus]:
        by_service: dict[str, list[Instance]] = {}
        for inst in live_only(await self._list(**{S.L_ENV: environment_id})):
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
                    state_reason=failure_reason(i),
                )
                for i in instances
            ]
            result.append(ServiceStatus(service_id, service_state([r.state for r in rows]), rows))
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

    async def list_services(self, environment_id: str | None = None) -> list[RunningService]:
        """What the engine runs for this deployer, grouped by service, from container labels alone."""
        found = await self._list(**({S.L_ENV: environment_id} if environment_id else {}))
        grouped: dict[str, list[Instance]] = {}
        for inst in found:
            grouped.setdefault(inst.service_id, []).append(inst)
        services = []
        for service_id, instances in grouped.items():
            live = live_only(instances)
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
