"""Picks the runtime driver of a cluster (one cached driver per engine address)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from deployer.runtime.base import RuntimeDriver
from deployer.settings import DeployerSettings
from slipway.desired import DesiredState

DOCKER_ENGINES = {"docker", "podman"}
log = logging.getLogger("deployer.drivers")
INSTALLATION_LABEL = "slipway.installation"


class Drivers:
    def __init__(self, settings: DeployerSettings) -> None:
        self.settings = settings
        self.cache: dict[str, RuntimeDriver] = {}
        self._environments: dict[str, tuple[str, str, str | None]] = {}  # environment → its cluster's target

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
        return self.for_cluster(state.cluster.id, state.cluster.engine, state.cluster.engine_host)

    def for_cluster(self, cluster_id: str, engine: str, engine_host: str | None) -> RuntimeDriver:
        """The driver of a cluster: a docker-engine cluster is reached at its own engine address (the
        deployer's `DOCKER_HOST` only when the cluster names none)."""
        if engine in DOCKER_ENGINES:
            return self._docker(engine_host or self.settings.docker_host)
        raise RuntimeError(
            f"cluster {cluster_id} runs on {engine!r}: only docker-engine clusters (Docker or Podman) can be "
            "deployed to yet"
        )

    def for_event(self, payload: dict[str, object]) -> RuntimeDriver | None:
        """The driver of a deleted resource's cluster, from catalog's deletion event (older events name no
        cluster: the local engine). None when that engine never ran anything of Slipway's."""
        engine = payload.get("engine")
        if not isinstance(engine, str):
            return self.default()
        if engine not in DOCKER_ENGINES:
            return None
        host = payload.get("engine_host")
        return self.for_cluster(str(payload.get("cluster_id")), engine, host if isinstance(host, str) else None)

    def _docker(self, host: str | None) -> RuntimeDriver:
        key = host or ""
        if key not in self.cache:
            from deployer.edge.caddy import AcmeIssuer, CaddyEdge
            from deployer.runtime.docker import DockerEngineDriver

            edge = CaddyEdge(
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
            self.cache[key] = DockerEngineDriver(
                host,
                edge,
                drain_seconds=self.settings.drain_seconds,
                stop_timeout=self.settings.stop_timeout_seconds,
                rollout_timeout=self.settings.rollout_timeout_seconds,
                retain_replaced_seconds=self.settings.retain_replaced_seconds,
                edge_resolver=self.settings.edge_resolver,
                extra_labels={INSTALLATION_LABEL: self.settings.installation_id},
            )
        return self.cache[key]

    async def adopt_local(self) -> None:
        """At start-up: rebuild the edge routes of what already runs on the local engine (Caddy may have
        restarted empty) and prune routes of services that no longer run."""
        try:
            await self.default().adopt(prune=True)
        except Exception as exc:  # noqa: BLE001 - no engine or edge yet: routes come back with the next apply
            log.warning("could not adopt running services: %s", exc)

    async def close(self) -> None:
        for driver in self.cache.values():
            await driver.close()
        self.cache.clear()
