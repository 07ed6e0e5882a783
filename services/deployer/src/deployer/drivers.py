"""Picks the runtime driver of a cluster (one cached driver per engine address)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from deployer.runtime.base import RuntimeDriver
from deployer.settings import DeployerSettings
from slipway.desired import INSTALLATION_LABEL, DesiredState

if TYPE_CHECKING:
    from deployer.edge.caddy import CaddyEdge

DOCKER_ENGINES = {"docker", "podman"}
log = logging.getLogger("deployer.drivers")


class Drivers:
    def __init__(self, settings: DeployerSettings) -> None:
        self.settings = settings
        self.cache: dict[str, RuntimeDriver] = {}
        self._environments: dict[str, tuple[str, str, str | None]] = {}  # environment → its cluster's target
        # a cluster's connection ({engine, engine_host, kubeconfig}) by id, from catalog (set at start-up): how a
        # Kubernetes cluster is reached when no full desired state named its kubeconfig yet
        self._closing: set[asyncio.Task[None]] = set()
        self.connection: Callable[[str], Awaitable[dict[str, Any]]] | None = None
        self._shared_edge: CaddyEdge | None = None

    async def for_environment(
        self, environment_id: str, scope: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> RuntimeDriver:
        """The driver of an environment's cluster, from catalog's environment scope (an environment never
        changes cluster: the answer is remembered)."""
        target = self._environments.get(environment_id)
        if target is None:
            found = await scope(environment_id)
            engine = found.get("cluster_engine")
            if not isinstance(engine, str):  # a catalog that predates cluster_engine: the local engine
                return self.default()
            host = found.get("cluster_engine_host")
            target = (str(found["cluster_id"]), engine, host if isinstance(host, str) else None)
            if len(self._environments) >= 4096:
                self._environments.clear()
            self._environments[environment_id] = target
        return self.for_cluster(*target)

    def default(self) -> RuntimeDriver:
        return self._docker(self.settings.docker_host)

    def for_state(self, state: DesiredState) -> RuntimeDriver:
        c = state.cluster
        return self.for_cluster(c.id, c.engine, c.engine_host, c.kubeconfig)

    def for_cluster(
        self, cluster_id: str, engine: str, engine_host: str | None, kubeconfig: str | None = None
    ) -> RuntimeDriver:
        """The driver of a cluster: a docker-engine cluster is reached at its own engine address (the
        deployer's `DOCKER_HOST` only when the cluster names none), a Kubernetes cluster through its kubeconfig
        (a new one replaces the driver)."""
        if engine in DOCKER_ENGINES:
            return self._docker(engine_host or self.settings.docker_host)
        if engine == "kubernetes":
            return self._kubernetes(cluster_id, kubeconfig)
        raise RuntimeError(f"cluster {cluster_id} runs on {engine!r}: Slipway deploys to docker, podman or kubernetes")

    def for_event(self, payload: dict[str, object]) -> RuntimeDriver | None:
        """The driver of a deleted resource's cluster, from catalog's deletion event (older events name no
        cluster: the local engine). None when that engine never ran anything of Slipway's."""
        engine = payload.get("engine")
        if not isinstance(engine, str):
            return self.default()
        if engine not in DOCKER_ENGINES and engine != "kubernetes":
            return None
        host = payload.get("engine_host")
        return self.for_cluster(str(payload.get("cluster_id")), engine, host if isinstance(host, str) else None)

    def _edge(self) -> CaddyEdge:
        """The edge, one per process: every engine's routes go through one writer (and one lock)."""
        if self._shared_edge is None:
            self._shared_edge = self._new_edge()
        return self._shared_edge

    def _new_edge(self) -> CaddyEdge:
        from deployer.edge.caddy import AcmeIssuer, CaddyEdge

        return CaddyEdge(
            self.settings.edge_admin_url,
            self.settings.edge_http_port,
            self.settings.edge_https_port,
            acme_public_domains=self.settings.edge_acme_public_domains,
            acme_issuer=AcmeIssuer(
                email=self.settings.edge_acme_email,
                ca=self.settings.edge_acme_ca,
                ca_root=self.settings.edge_acme_ca_root,
                challenge_port=self.settings.edge_acme_challenge_port,
            ),
        )

    def _kubernetes(self, cluster_id: str, kubeconfig: str | None) -> RuntimeDriver:
        from deployer.runtime.kubernetes import KubernetesDriver

        key = f"kubernetes:{cluster_id}"
        found = self.cache.get(key)
        if isinstance(found, KubernetesDriver) and (kubeconfig is None or kubeconfig == found.kubeconfig):
            return found
        if found is not None:  # a new kubeconfig: the old client closes in the background
            self._closing.add(asyncio.create_task(found.close()))

        async def load() -> str:
            if self.connection is None:
                raise RuntimeError(f"cluster {cluster_id}: no kubeconfig known yet")
            text = (await self.connection(cluster_id)).get("kubeconfig")
            if not isinstance(text, str):
                raise RuntimeError(f"cluster {cluster_id} has no kubeconfig: upload one (PUT …/kubeconfig)")
            return text

        driver = KubernetesDriver(
            kubeconfig,
            self._edge(),
            loader=load,
            installation=self.settings.installation_id,
            cluster_id=cluster_id,
            stop_timeout=self.settings.stop_timeout_seconds,
            rollout_timeout=self.settings.rollout_timeout_seconds,
            qps=self.settings.kubernetes_qps,
            burst=self.settings.kubernetes_burst,
            job_timeout=self.settings.job_timeout_seconds,
        )
        if isinstance(found, KubernetesDriver):
            driver._locks = found._locks  # a deploy running in the replaced driver still holds its service's lock
        self.cache[key] = driver
        return driver

    def _docker(self, host: str | None) -> RuntimeDriver:
        key = host or ""
        if key not in self.cache:
            from deployer.runtime.docker import DockerEngineDriver

            edge = self._edge()
            self.cache[key] = DockerEngineDriver(
                host,
                edge,
                drain_seconds=self.settings.drain_seconds,
                stop_timeout=self.settings.stop_timeout_seconds,
                rollout_timeout=self.settings.rollout_timeout_seconds,
                retain_replaced_seconds=self.settings.retain_replaced_seconds,
                edge_resolver=self.settings.edge_resolver,
                extra_labels={INSTALLATION_LABEL: self.settings.installation_id},
                job_timeout=self.settings.job_timeout_seconds,
            )
        return self.cache[key]

    async def adopt_local(self, routable: set[str] | None = None) -> None:
        """At start-up: rebuild the edge routes of what already runs on the local engine (Caddy may have
        restarted empty), then drop the routes of services the deployer knows as stopped or gone (`routable`:
        the others). A route is never dropped because another engine serves it (a Kubernetes cluster, a
        remote engine): the deployer's records decide, not one engine's view."""
        try:
            await self.default().adopt()
            if routable is not None:
                await self._edge().prune(keep=routable)
        except Exception as exc:  # noqa: BLE001 - no engine or edge yet: routes come back with the next apply
            log.warning("could not adopt running services: %s", exc)

    async def warm_kubernetes(
        self, environment_ids: list[str], scope: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> int:
        """At start-up: find the Kubernetes clusters of the environments that run something (so the drift
        correction covers them before their next deploy) and route their public Services again."""
        adopted: set[int] = set()
        for environment_id in environment_ids:
            try:
                driver = await self.for_environment(environment_id, scope)
                if driver.engine == "kubernetes" and id(driver) not in adopted:
                    adopted.add(id(driver))
                    await driver.adopt()
            except Exception as exc:  # noqa: BLE001 - an unreachable cluster is tried again at its next use
                log.warning("environment %s: cluster not adopted: %s", environment_id, exc)
        return len(adopted)

    async def reconcile_kubernetes(self) -> list[str]:
        """One drift-correction pass over every Kubernetes cluster in use; what was put back."""
        from deployer.runtime.kubernetes import KubernetesDriver

        corrected: list[str] = []
        for driver in list(self.cache.values()):
            if isinstance(driver, KubernetesDriver):
                try:
                    corrected += await driver.reconcile()
                except Exception as exc:  # noqa: BLE001 - an unreachable cluster is tried again next pass
                    log.warning("drift correction skipped a cluster: %s", exc)
        return corrected

    def kubernetes(self) -> list[Any]:
        """The Kubernetes drivers in use (one per registered cluster)."""
        from deployer.runtime.kubernetes import KubernetesDriver

        return [d for d in self.cache.values() if isinstance(d, KubernetesDriver)]

    async def close(self) -> None:
        await asyncio.gather(*self._closing, return_exceptions=True)
        for driver in self.cache.values():
            await driver.close()
        self.cache.clear()
        if self._shared_edge is not None:
            await self._shared_edge.aclose()
            self._shared_edge = None
