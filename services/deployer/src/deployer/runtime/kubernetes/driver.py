"""The Kubernetes runtime driver: an environment is a namespace, a service a Deployment behind a ClusterIP Service.

Each apply renders the service's objects (manifests.py), and for each asks the API server what a server-side
apply would make of it (`dryRun=All`): only an object that would change is written, so an unchanged redeploy
writes nothing. The Deployment rolls with maxUnavailable 0; the rollout is followed to readiness (rollout.py).
A failed or cancelled rollout puts the previous pod template and variables back (Kubernetes' own revision
history), so the old pods, which never stopped, keep serving; a first deploy that fails leaves nothing.
Public traffic reaches the Service's ClusterIP through Slipway's edge (the embedded cluster has no ingress
controller; its Service network is routed on the host), the routes kept in an annotation for adoption.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from deployer.edge.caddy import CaddyEdge, Route
from deployer.images import image_ref
from deployer.runtime import spec as S
from deployer.runtime.base import Applied, ImageTarget, LogSink, RolloutFailed, ServiceStatus, job_limit
from deployer.runtime.kubernetes import jobs as J
from deployer.runtime.kubernetes import manifests as M
from deployer.runtime.kubernetes.api import KubeApi, KubeError, counting, kind_of
from deployer.runtime.kubernetes.drift import Drift
from deployer.runtime.kubernetes.live import LiveState
from deployer.runtime.kubernetes.mirror import Mirrors
from deployer.runtime.kubernetes.rollout import (
    REPLICASETS,
    REVISION,
    STATEFULSETS,
    rollout_progress,
    set_progress,
    wait_rolled_out,
)
from slipway.desired import DesiredState, RegistryRef, ServiceSpec, kubernetes_namespace

log = logging.getLogger("deployer.runtime.kubernetes")

NAMESPACES = kind_of("v1", "Namespace")
SECRETS = kind_of("v1", "Secret")
SERVICES = kind_of("v1", "Service")
DEPLOYMENTS = kind_of("apps/v1", "Deployment")
PODS = kind_of("v1", "Pod")
CLAIMS = kind_of("v1", "PersistentVolumeClaim")
INGRESSES = kind_of("networking.k8s.io/v1", "Ingress")
SUPPORTED = ("APPLICATION", "CONTAINER", "JOB", "DATABASE")
SET_FIELDS = ("selector", "serviceName", "replicas", "podManagementPolicy", "updateStrategy", "revisionHistoryLimit",
              "volumeClaimTemplates")  # fmt: skip
DEPLOYMENT_FIELDS = ("selector", "strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "replicas")


def workload_kind(service: ServiceSpec) -> Any:
    """A service with storage is a StatefulSet (its volumes follow its pods), any other a Deployment."""
    return STATEFULSETS if service.volumes else DEPLOYMENTS


def differences(before: Any, after: Any, path: str = "", limit: int = 4) -> list[str]:
    """The first `limit` paths where two JSON documents differ (`spec.replicas`), for the log."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            out += differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key), limit)
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += differences(b, a, f"{path}[{i}]", limit)
        return out[:limit]
    return [] if before == after else [path or "."]


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """What an apply can change: not the status (controllers write it), nor the bookkeeping metadata."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("managedFields", "resourceVersion")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


class KubernetesDriver(LiveState, Drift):
    """RuntimeDriver for Kubernetes clusters (APPLICATION and CONTAINER services)."""

    engine = "kubernetes"
    schedules_cron = True  # a CRON job is a native CronJob: the cluster runs it, not the deployer's scheduler

    def __init__(
        self,
        kubeconfig: str | None,
        edge: CaddyEdge | None,
        *,
        loader: Callable[[], Awaitable[str]] | None = None,
        installation: str = "default",
        cluster_id: str = "",
        stop_timeout: int = 10,
        rollout_timeout: float = 600.0,
        job_timeout: float = 3600.0,
        qps: float = 20.0,
        burst: int = 40,
    ) -> None:
        self.api = KubeApi(kubeconfig, loader=loader, qps=qps, burst=burst)
        self.mirrors = Mirrors(self.api)
        self.edge = edge
        self.installation = installation
        self.cluster_id = cluster_id  # the Slipway cluster this driver serves (its drift records carry it)
        self.stop_timeout = stop_timeout
        self.rollout_timeout = rollout_timeout
        self.job_timeout = job_timeout
        self._locks: dict[str, asyncio.Lock] = {}
        self._versions: M.Versions | None = None
        self.last_changes: list[str] = []  # what the last written sync changed (the drift log names it)

    @property
    def kubeconfig(self) -> str | None:
        return self.api.kubeconfig

    def image_target(self, state: DesiredState, service: ServiceSpec) -> ImageTarget:
        """Built images are pushed to the cluster's registry (the organization's default one), which the nodes
        pull from with its credentials."""
        registry = state.cluster.registry
        if registry is None:
            raise RolloutFailed(
                "this Kubernetes cluster has no container registry to push built images to: add one to the "
                "organization (its default container registry is used)"
            )
        return ImageTarget(f"localhost/slipway/{service.id}", registry, registry)

    async def versions(self) -> M.Versions:
        if self._versions is None:
            version = await self.api.request("GET", "/version") or {}
            minor = "".join(c for c in str(version.get("minor", "")) if c.isdigit())
            self._versions = M.Versions(
                autoscaling=await self.api.preferred("autoscaling", ("v2", "v2beta2", "v1")),
                batch_cron=await self.api.preferred_kind("batch", ("v1", "v1beta1"), "cronjobs"),
                policy=await self.api.preferred("policy", ("v1", "v1beta1")),
                minor=int(minor or 0),
            )
        return self._versions

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._locks.setdefault(service_id, asyncio.Lock())

    # -- writing -----------------------------------------------------------------------------------
    async def sync(self, obj: dict[str, Any]) -> bool:
        """Server-side apply `obj` only when it would change what the cluster holds; True when written."""
        meta = obj["metadata"]
        kind = kind_of(obj["apiVersion"], obj["kind"])
        current = await self.api.get(kind, meta.get("namespace"), meta["name"])
        if current is not None:
            would = await self.api.apply(obj, dry_run=True)
            if _comparable(would) == _comparable(current):
                return False
            self.last_changes = differences(_comparable(current), _comparable(would))
        else:
            self.last_changes = ["created"]
        await self.api.apply(obj)
        return True

    async def _ensure_namespace(self, state: DesiredState, sink: LogSink) -> bool:
        name = M.namespace_of(state)
        found = await self.api.get(NAMESPACES, None, name)
        if found is not None and found["metadata"].get("deletionTimestamp"):
            # the environment's last workload went a moment ago: its namespace must be gone before it comes back
            await sink(f"waiting for the namespace {name} to finish terminating")
            for _ in range(600):
                if await self.api.get(NAMESPACES, None, name) is None:
                    break
                await asyncio.sleep(0.5)
            else:
                raise RolloutFailed(f"the namespace {name} is still terminating after 5 minutes")
        written = await self.sync(M.namespace(state, self.installation))
        if written:  # pods are admitted once the namespace's default service account exists
            for _ in range(100):
                if await self.api.get(kind_of("v1", "ServiceAccount"), M.namespace_of(state), "default"):
                    break
                await asyncio.sleep(0.1)
        return written

    def _pull_registries(self, state: DesiredState, service: ServiceSpec) -> list[RegistryRef]:
        found = [r for r in (state.cluster.registry, service.image.registry if service.image else None) if r]
        return found

    async def apply(
        self, state: DesiredState, service: ServiceSpec, image: str | None, deployment_id: str, log: LogSink
    ) -> Applied:
        if service.kind not in SUPPORTED:
            raise RolloutFailed(
                f"{service.name}: {service.kind.lower()} services cannot run on Kubernetes clusters yet — deploy "
                "this environment on a docker-engine cluster"
            )
        image = image or image_ref(service)
        if image is None:
            raise RolloutFailed(f"{service.name}: no image to run")
        async with self._lock(service.id):
            tally = counting()
            try:
                if service.kind == "JOB":
                    return await self._apply_job(state, service, image, deployment_id, log)
                return await self._apply(state, service, image, log)
            except KubeError as exc:  # refused by the API server (RBAC, validation): a clear deployment error
                raise RolloutFailed(f"the cluster refused it: {exc}") from None
            finally:
                await log(f"{service.name}: {tally.requests} Kubernetes API requests, {tally.writes} writes")

    async def _prepare(self, state: DesiredState, service: ServiceSpec, sink: LogSink) -> tuple[bool, list[str]]:
        """The namespace and its pull secret; (anything written, the pull secrets' names)."""
        written = await self._ensure_namespace(state, sink)
        pull = M.pull_secret(state, self._pull_registries(state, service), self.installation)
        if pull is not None:
            written = await self.sync(pull) or written
        return written, [M.PULL_SECRET] if pull else []

    async def _sync_config(self, state: DesiredState, service: ServiceSpec) -> tuple[bool, list[dict[str, Any]]]:
        """The service's variables and files Secrets: (one was written, the Secrets)."""
        config = [M.env_secret(state, service, self.installation)]
        files = M.files_secret(state, service, self.installation)
        if files is not None:
            config.append(files)
        written = False
        for secret in config:
            written = await self.sync(secret) or written
        return written, config

    async def _apply_job(
        self, state: DesiredState, service: ServiceSpec, image: str, run_id: str, sink: LogSink
    ) -> Applied:
        """A CRON job's CronJob (written only when it differs), or one run of a lifecycle job to completion."""
        assert service.job is not None
        ns, name = M.namespace_of(state), M.workload_name(service)
        versions = await self.versions()
        written, pulls = await self._prepare(state, service, sink)
        config_written, config = await self._sync_config(state, service)
        written = config_written or written
        timeout = int(job_limit(service, self.job_timeout))
        if service.job.kind == "CRON":
            J.check_time_zone(service, versions.minor)
            cron = J.cron_job(state, service, image, self.installation, pulls, timeout, versions.batch_cron)
            written = await self.sync(cron) or written
            await self._remember(state, service, [*config, cron])
            await sink(f'{service.name}: CronJob {name} runs on "{service.job.cron}" (UTC)')
            return Applied(written, [name])
        await self._delete_runs(ns, service.id)
        run = J.job(state, service, image, self.installation, pulls, timeout, run_id)
        job_name = run["metadata"]["name"]
        await self.api.apply(run)
        await sink(f"{service.name}: job {job_name} started")
        try:
            await J.wait_finished(self.api, ns, job_name, service, float(timeout), sink)
        except asyncio.CancelledError:  # a cancelled run leaves nothing running
            with contextlib.suppress(Exception):
                await asyncio.shield(self.api.delete(J.JOBS, ns, job_name))
            raise
        found = await J.outputs(self.api, ns, job_name)
        await sink(f"{service.name}: job completed")
        return Applied(True, [job_name], outputs=found)

    async def finished_cron_runs(self) -> list[J.CronRun]:
        """The CronJobs' runs that ended since the last call (see `mark_cron_run_recorded`)."""
        return await J.finished_cron_runs(self.api, self.installation)

    async def mark_cron_run_recorded(self, run: J.CronRun) -> None:
        await J.mark_recorded(self.api, run)

    async def _delete_runs(self, namespace: str, service_id: str, active_only: bool = False) -> None:
        """A job service's Jobs (its lifecycle runs), their pods with them; `active_only`: only what runs."""
        found = await self.api.list(J.JOBS, namespace, f"{M.L_SERVICE}={service_id}")
        for item in found["items"]:
            if active_only and not int(item.get("status", {}).get("active") or 0):
                continue
            await self.api.delete(J.JOBS, namespace, item["metadata"]["name"])

    async def _apply(self, state: DesiredState, service: ServiceSpec, image: str, sink: LogSink) -> Applied:
        ns, name = M.namespace_of(state), M.workload_name(service)
        versions = await self.versions()
        written, pulls = await self._prepare(state, service, sink)
        stateful = bool(service.volumes)
        previous = await self.api.get(workload_kind(service), ns, name)
        old_env = await self.api.get(SECRETS, ns, f"{name}-env") if previous is not None else None
        replicas = M.replicas_of(service)
        if stateful:
            replicas = max(service.min_running_instances, 1)  # each instance with its own volumes: no autoscaling
            storage = state.cluster.storage_class
            workload = M.stateful_set(state, service, image, self.installation, pulls, self.stop_timeout, storage)
        else:
            workload = M.deployment(state, service, image, self.installation, pulls, self.stop_timeout, replicas)
        try:
            env_written, config = await self._sync_config(state, service)
            rolled = await self.sync(workload)
            deadline = min(self.rollout_timeout, float(M.progress_deadline(service)))
            if rolled:
                await sink(f"{service.name}: rolling out {image} ({replicas or 'autoscaled'} instance(s))")
                await wait_rolled_out(self.api, ns, name, service, deadline, sink, stateful)
            elif previous is not None and not (set_progress if stateful else rollout_progress)(previous).ready:
                # the same version, but not all of it serves yet (a rollback still under way, a replaced pod)
                await sink(f"{service.name}: the cluster runs this version: waiting until all of it is ready")
                await wait_rolled_out(self.api, ns, name, service, deadline, sink, stateful)
            written = rolled or env_written or written
        except BaseException as exc:
            reason = str(exc) or type(exc).__name__
            with contextlib.suppress(Exception):
                await asyncio.shield(self._roll_back(state, service, previous, old_env, sink, reason))
            raise
        routes = S.public_routes(state, service)
        entry = M.ingress(state, service, self.installation, routes)
        extras: dict[str, tuple[str, dict[str, Any] | None]] = {  # kind → (API version, the object or None)
            "Service": ("v1", M.service_object(state, service, self.installation)),
            "PodDisruptionBudget": (versions.policy, M.disruption_budget(state, service, self.installation, versions)),
            "HorizontalPodAutoscaler": (
                versions.autoscaling,
                None if stateful else M.autoscaler(state, service, self.installation, versions),
            ),
            "Ingress": ("networking.k8s.io/v1", entry),
        }
        for _, extra in extras.values():
            if extra is not None:
                written = await self.sync(extra) or written
        await self._prune_extras(ns, name, stateful, extras)
        await self._route(ns, service, [] if entry else routes)  # with an Ingress, the cluster's controller serves
        kept = [obj for _, obj in extras.values() if obj is not None]
        await self._remember(state, service, [*config, workload, *kept])  # what reconcile() puts back
        if not written:
            await sink(f"{service.name}: the cluster already runs this version")
        if entry is not None:
            scheme = "https" if state.cluster.ingress_issuer else "http"
            return Applied(written, [name], [f"{scheme}://{r.host}{r.path_prefix or ''}" for r in routes])
        return Applied(written, [name], self._urls(routes))

    async def _prune_extras(
        self, ns: str, name: str, stateful: bool, extras: dict[str, tuple[str, dict[str, Any] | None]]
    ) -> None:
        """Drop the autoscaler, budget, Service, Ingress or other workload kind a previous version had and this one
        no longer needs (a service that gained storage leaves its Deployment for a StatefulSet)."""
        other = DEPLOYMENTS if stateful else STATEFULSETS
        if await self.api.get(other, ns, name) is not None:
            await self.api.delete(other, ns, name)
        for kind_name, (api_version, obj) in extras.items():
            if obj is None:
                kind = kind_of(api_version, kind_name)
                if await self.api.get(kind, ns, name) is not None:
                    await self.api.delete(kind, ns, name)

    async def _roll_back(
        self,
        state: DesiredState,
        service: ServiceSpec,
        previous: dict[str, Any] | None,
        old_env: dict[str, Any] | None,
        sink: LogSink,
        reason: str,
    ) -> None:
        ns, name = M.namespace_of(state), M.workload_name(service)
        if previous is None:  # a first deploy: nothing served before, nothing of it remains
            await sink(f"{service.name}: removing the failed first version")
            await self._delete_service(ns, service.id)
            return
        revision = previous["metadata"].get("annotations", {}).get(REVISION)
        await sink(f"{service.name}: rolling back to revision {revision} (the previous version keeps serving)")
        if old_env is not None:
            restored = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": old_env["metadata"]["name"],
                    "namespace": ns,
                    "labels": old_env["metadata"].get("labels", {}),
                    "annotations": old_env["metadata"].get("annotations", {}),
                },
                "type": old_env.get("type", "Opaque"),
                "data": old_env.get("data", {}),
            }
            await self.api.apply(restored)
        template = previous["spec"]["template"]
        template["metadata"].get("labels", {}).pop("pod-template-hash", None)
        stateful = previous["kind"] == "StatefulSet"
        back = {
            "apiVersion": "apps/v1",
            "kind": previous["kind"],
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": previous["metadata"].get("labels", {}),
                "annotations": {
                    k: v for k, v in previous["metadata"].get("annotations", {}).items() if k.startswith(M.L)
                },
            },
            "spec": {
                k: previous["spec"][k] for k in (SET_FIELDS if stateful else DEPLOYMENT_FIELDS) if k in previous["spec"]
            }
            | {"template": template},  # fmt: skip
        }
        await self.api.apply(back)
        if stateful:  # a StatefulSet never replaces a pod that is not ready by itself: the stuck new pod goes
            await self._replace_stuck_pods(ns, name, service)
        try:
            deadline = float(M.progress_deadline(service))
            await wait_rolled_out(self.api, ns, name, service, deadline, sink, stateful)
        except RolloutFailed as exc:
            await sink(f"{service.name}: the previous version did not come back either: {exc}")

    async def _replace_stuck_pods(self, namespace: str, name: str, service: ServiceSpec) -> None:
        for _ in range(50):  # the controller records the reverted template as the update revision
            found = await self.api.get(STATEFULSETS, namespace, name) or {}
            status = found.get("status", {})
            if int(status.get("observedGeneration", 0)) >= int(found.get("metadata", {}).get("generation", 0)):
                break
            await asyncio.sleep(0.1)
        revision = found.get("status", {}).get("updateRevision")
        pods = await self.api.list(PODS, namespace, f"{M.L_SERVICE}={service.id}")
        for pod in pods["items"]:
            if revision and pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision:
                await self.api.delete(PODS, namespace, pod["metadata"]["name"])

    # -- the edge ----------------------------------------------------------------------------------
    async def _route(self, namespace: str, service: ServiceSpec, routes: list[S.PublicRoute]) -> None:
        if self.edge is None:
            return
        if not routes:
            await self.edge.remove_service(service.id)
            return
        found = await self.api.get(SERVICES, namespace, service.internal_host)
        ip = (found or {}).get("spec", {}).get("clusterIP")
        if not ip or ip == "None":
            raise RolloutFailed(f"{service.name}: its Service has no cluster IP to route public traffic to")
        await self.edge.set_service_routes(service.id, [Route(r.host, f"{ip}:{r.port}", r.path_prefix) for r in routes])

    def _urls(self, routes: list[S.PublicRoute]) -> list[str]:
        if self.edge is None:
            return []
        return [self.edge.url(r.host) + (r.path_prefix or "") for r in routes]

    async def adopt(self, environment_id: str | None = None, prune: bool = False) -> object:
        """Route again the public Services that run (their routes are in an annotation)."""
        if self.edge is None:
            return []
        selector = f"{M.L_MANAGED}={M.MANAGED_BY},{M.L_INSTALLATION}={self.installation}"
        namespace = kubernetes_namespace(environment_id) if environment_id else None
        found = await self.api.list(SERVICES, namespace, selector)
        routed: dict[str, list[Route]] = {}
        for svc in found["items"]:
            service_id = svc["metadata"]["labels"].get(M.L_SERVICE)
            ip = svc.get("spec", {}).get("clusterIP")
            routes = S.decode_routes(svc["metadata"].get("annotations", {}).get(M.A_ROUTES))
            if service_id and ip and routes:
                routed[service_id] = [Route(r.host, f"{ip}:{r.port}", r.path_prefix) for r in routes]
        await self.edge.ensure(routed, prune=False)
        return list(routed)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def stop(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None:
        ns, name = M.namespace_of(state), M.workload_name(service)
        async with self._lock(service.id):
            await self._forget(ns, service)  # a stopped service is not put back by the drift correction
            if service.kind == "JOB":
                await self._stop_job(ns, service, log)
                return
            autoscaler = kind_of((await self.versions()).autoscaling, "HorizontalPodAutoscaler")
            if await self.api.get(autoscaler, ns, name) is not None:
                await self.api.delete(autoscaler, ns, name)  # it would scale the Deployment up again
            kind = workload_kind(service)
            if await self.api.get(kind, ns, name) is None:
                await log(f"{service.name}: nothing runs")
                return
            await self.api.patch(kind, ns, f"{name}/scale", {"spec": {"replicas": 0}})  # volumes are kept
            await log(f"{service.name}: scaled to 0")
            for _ in range(int(self.stop_timeout * 10) + 300):
                pods = await self.api.list(kind_of("v1", "Pod"), ns, f"{M.L_SERVICE}={service.id}")
                if not pods["items"]:
                    break
                await asyncio.sleep(0.2)
            if self.edge is not None:
                await self.edge.remove_service(service.id)

    async def _stop_job(self, namespace: str, service: ServiceSpec, log: LogSink) -> None:
        """A CronJob is suspended (the next deploy resumes it); a lifecycle run that is still going is ended."""
        cron = kind_of((await self.versions()).batch_cron, "CronJob")
        if await self.api.get(cron, namespace, M.workload_name(service)) is not None:
            await self.api.patch(cron, namespace, M.workload_name(service), {"spec": {"suspend": True}})
            await log(f"{service.name}: CronJob suspended")
        await self._delete_runs(namespace, service.id, active_only=True)

    async def restart(self, state: DesiredState, service: ServiceSpec, log: LogSink) -> None:
        ns, name = M.namespace_of(state), M.workload_name(service)
        if service.kind == "JOB":  # nothing runs between runs: the CronJob's next run starts fresh anyway
            await log(f"{service.name}: a job runs on its events and schedule: nothing to restart")
            return
        async with self._lock(service.id):
            kind = workload_kind(service)
            found = await self.api.get(kind, ns, name)
            if found is None:
                raise RolloutFailed(f"{service.name}: not deployed on this cluster")
            stamp = hashlib.sha256(f"{name}{asyncio.get_running_loop().time()}".encode()).hexdigest()[:12]
            await self.api.patch(kind, ns, name, M.restart_patch(stamp))
            await log(f"{service.name}: restarting its pods one at a time")
            deadline = float(M.progress_deadline(service))
            await wait_rolled_out(self.api, ns, name, service, deadline, log, kind is STATEFULSETS)

    async def _delete_service(self, namespace: str, service_id: str) -> None:
        selector = f"{M.L_SERVICE}={service_id}"
        versions = await self.versions()
        kinds = (
            kind_of(versions.autoscaling, "HorizontalPodAutoscaler"),
            kind_of(versions.policy, "PodDisruptionBudget"),
            DEPLOYMENTS,
            STATEFULSETS,
            kind_of(versions.batch_cron, "CronJob"),
            J.JOBS,
            SECRETS,
            INGRESSES,
            CLAIMS,  # the service's data goes with it (the volumes' reclaim policy decides what the disk does)
        )
        for kind in kinds:
            await self.api.delete_collection(kind, namespace, selector)
        await self.api.delete_collection(PODS, namespace, selector)  # a job's finished pods go at once
        for svc in (await self.api.list(SERVICES, namespace, selector))["items"]:  # no collection delete
            await self.api.delete(SERVICES, namespace, svc["metadata"]["name"])
        await self.api.delete_collection(REPLICASETS, namespace, selector)

    async def delete(self, environment_id: str, service_id: str, log: LogSink) -> None:
        ns = kubernetes_namespace(environment_id)
        async with self._lock(service_id):
            if self.edge is not None:
                await self.edge.remove_service(service_id)
            if await self.api.get(NAMESPACES, None, ns) is None:
                return
            await self._delete_service(ns, service_id)
            if not await self._workloads_left(ns):
                await self.delete_environment(environment_id)
            await log("removed from the cluster")

    async def _workloads_left(self, namespace: str) -> bool:
        selector = f"{M.L_MANAGED}={M.MANAGED_BY}"
        for kind in (DEPLOYMENTS, STATEFULSETS, kind_of((await self.versions()).batch_cron, "CronJob"), J.JOBS):
            if (await self.api.list(kind, namespace, selector))["items"]:
                return True
        return False

    async def delete_environment(self, environment_id: str) -> None:
        ns = kubernetes_namespace(environment_id)
        found = await self.api.get(NAMESPACES, None, ns)
        if found is None:
            return
        if self.edge is not None:
            for svc in (await self.api.list(SERVICES, ns, f"{M.L_MANAGED}={M.MANAGED_BY}"))["items"]:
                service_id = svc["metadata"].get("labels", {}).get(M.L_SERVICE)
                if service_id:
                    await self.edge.remove_service(service_id)
        try:
            await self.api.delete(NAMESPACES, None, ns)
        except KubeError as exc:
            if exc.status != 409:  # already terminating
                raise

    async def status(self, environment_id: str) -> list[ServiceStatus]:
        return await self.live_status(kubernetes_namespace(environment_id), (await self.versions()).batch_cron)

    async def close(self) -> None:
        await self.mirrors.close()
        await self.api.close()  # the edge is the process's (Drivers closes it)
