"""The docker driver's networks and edge: environment and edge networks, bridge pinning, aliases, routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from aiodocker.exceptions import DockerError
from aiodocker.networks import DockerNetwork

from deployer.edge.caddy import DynamicUpstreams, EdgeError, Route
from deployer.runtime import hostnet
from deployer.runtime import spec as S
from deployer.runtime.docker.base import EngineBase, past_removals
from deployer.runtime.docker.instances import (
    DNS_CONVERGE_SECONDS,
    EDGE_REFRESH,
    Instance,
)
from slipway.desired import DesiredState
from slipway.dns import wait_for_answer
from slipway.edgedns import edge_name

log = logging.getLogger("deployer.runtime.docker")


class EdgeNetworking(EngineBase):
    """Networks per environment and how the edge reaches READY instances (dynamic aliases or static upstreams)."""

    async def _ensure_network(self, state: DesiredState, name: str | None = None) -> str:
        name = name or S.network_name(state.environment_id)
        if name in self._networks:
            return name
        async with self._network_lock:
            try:
                await past_removals(functools.partial(self.docker.networks.get, name))
                self._networks.add(name)
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
            self._networks.add(name)
            return name

    async def _drop_network_if_empty(self, environment_id: str) -> None:
        async with self._network_lock:
            if await self._list(**{S.L_ENV: environment_id}):
                return
            for name in (S.edge_network_name(environment_id), S.network_name(environment_id)):
                self._gateways.pop(name, None)
                self._networks.discard(name)
                with contextlib.suppress(DockerError):  # already gone, or an unmanaged container still uses it
                    network = await past_removals(functools.partial(self.docker.networks.get, name))
                    await network.delete()

    async def _edge_gateway(self, environment_id: str) -> str | None:
        """The edge network's gateway IP: where aardvark-dns answers for it (None when there is no network)."""
        return await self._gateway(S.edge_network_name(environment_id))

    async def _gateway(self, name: str) -> str | None:
        """A network's IPv4 gateway (its bridge on the engine's host); None when there is no such network."""
        if name not in self._gateways:
            try:
                network = await past_removals(functools.partial(self.docker.networks.get, name))
                info = await past_removals(network.show)
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

    async def _uses_edge_network(self) -> bool:
        return self.edge is not None and await self._dynamic_edge()

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
