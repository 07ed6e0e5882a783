"""Caddy as the edge router: per-service reverse-proxy routes and TLS policies through Caddy's admin API.

Every route the deployer owns carries an `@id` `svc-<service_id>-<n>` (one route per public host and path
prefix; `n` numbers the service's hosts in sorted order). New routes go before any catch-all route. A route
forwards either to
- static upstreams (`ip:port` list, `Route(host, "ip:port")`): switching containers PATCHes the upstreams in
  place, i.e. one config reload, and a reload may reset a TCP connection that has no response yet (Caddy 2.11,
  fresh and idle keep-alive connections alike; caddyserver/caddy#3143); or
- dynamic upstreams (`Route(host, DynamicUpstreams(name, port, resolver))`): Caddy resolves the name's A
  records itself every `refresh`; who serves changes in DNS, the config never does (zero-failure rollouts).
Identical routes are never re-sent, so a re-apply costs no reload.

TLS: the stack starts Caddy with one catch-all automation policy using the internal CA. With
`acme_public_domains` the edge keeps one more policy (`@id` `slipway-acme`, listed first) whose subjects are
the routed hosts that are real public domains, issued by Caddy's default ACME issuers, or by one ACME
directory of the operator's (`AcmeIssuer.ca`, e.g. a private step-ca; its root may be given as a PEM file).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from slipway.dns import is_public_domain

log = logging.getLogger("deployer.edge")
ROUTE_PREFIX = "svc-"
ACME_POLICY_ID = "slipway-acme"


class EdgeError(RuntimeError):
    """Caddy's admin API refused a change or could not be reached."""


class _Moved(Exception):
    """Caddy refused a write whose If-Match no longer holds: the config changed since it was read."""


INSERT_ATTEMPTS = 8


class HostTaken(EdgeError):
    """Another service already holds the host (and path): the edge maps each to exactly one service."""


@dataclass(frozen=True)
class DynamicUpstreams:
    """Upstreams Caddy looks up itself: the A records of `name`, asked of `resolver` (`ip:port`) at most every
    `refresh`, each dialed on `port`."""

    name: str
    port: int
    resolver: str
    refresh: str = "1s"


@dataclass(frozen=True)
class Route:
    """One public host (optionally under a path prefix) forwarded to one upstream `ip:port`, or to dynamic
    upstreams (then the only upstream of its host)."""

    host: str
    upstream: str | DynamicUpstreams
    path_prefix: str | None = None


RouteLike = Route | tuple[str, str]


@dataclass
class EdgeRoute:
    """A route as Caddy holds it; several upstreams are load-balanced round robin."""

    route_id: str
    service_id: str
    host: str
    upstreams: list[str] = field(default_factory=list)
    path_prefix: str | None = None
    dynamic: DynamicUpstreams | None = None


def route_id(service_id: str, n: int) -> str:
    return f"{ROUTE_PREFIX}{service_id}-{n}"


def parse_route_id(rid: str) -> str | None:
    """The service id inside `svc-<service_id>-<n>`, None for routes the deployer does not own."""
    if not rid.startswith(ROUTE_PREFIX):
        return None
    service_id, sep, n = rid[len(ROUTE_PREFIX) :].rpartition("-")
    return service_id if sep and service_id and n.isdigit() else None


@dataclass(frozen=True)
class AcmeIssuer:
    """Where public domains' certificates come from: Caddy's default public CAs, or one ACME directory."""

    email: str | None = None
    ca: str | None = None  # an ACME directory URL; None: Let's Encrypt, then ZeroSSL
    ca_root: str | None = None  # PEM file of that CA's root when the system does not trust it
    challenge_port: int | None = None  # where Caddy answers HTTP-01 when port 80 is forwarded to another port

    def issuers(self) -> list[dict[str, Any]] | None:
        """Caddy's issuer objects; None for Caddy's defaults."""
        account: dict[str, Any] = {"email": self.email} if self.email else {}
        acme: dict[str, Any] = {"module": "acme", **account}
        if self.challenge_port:
            acme["challenges"] = {"http": {"alternate_port": self.challenge_port}, "tls-alpn": {"disabled": True}}
        if self.ca:
            acme["ca"] = self.ca
            if self.ca_root:
                acme["trusted_roots_pem_files"] = [self.ca_root]
            return [acme]
        if not account and not self.challenge_port:
            return None
        return [acme, {"module": "zerossl", **account}]


def tls_policies(
    public_hosts: Sequence[str], email: str | None = None, issuer: AcmeIssuer | None = None
) -> list[dict[str, Any]]:
    """The ACME automation policy for `public_hosts` (empty list when there are none)."""
    subjects = sorted({h.lower() for h in public_hosts if is_public_domain(h)})
    if not subjects:
        return []
    policy: dict[str, Any] = {"@id": ACME_POLICY_ID, "subjects": subjects}
    issuers = (issuer or AcmeIssuer(email=email)).issuers()
    if issuers is not None:  # otherwise Caddy's default issuers (Let's Encrypt, then ZeroSSL), no account email
        policy["issuers"] = issuers
    return [policy]


Target = list[str] | DynamicUpstreams  # static `ip:port` upstreams, or dynamic ones


def _normalize(routes: Sequence[RouteLike], path_prefix: str | None) -> dict[tuple[str, str | None], Target]:
    """(host, path prefix) → upstreams, in a stable order (dynamic upstreams win over static ones)."""
    grouped: dict[tuple[str, str | None], Target] = {}
    for item in routes:
        route = item if isinstance(item, Route) else Route(item[0], item[1], path_prefix)
        prefix = _clean_prefix(route.path_prefix if isinstance(item, Route) else path_prefix)
        key = (route.host.lower(), prefix)
        have = grouped.setdefault(key, [])
        if isinstance(route.upstream, DynamicUpstreams):
            grouped[key] = route.upstream
        elif isinstance(have, list) and route.upstream not in have:
            have.append(route.upstream)
    return {key: grouped[key] for key in sorted(grouped, key=lambda k: (k[0], k[1] or ""))}


def _clean_prefix(prefix: str | None) -> str | None:
    if not prefix or prefix.strip("/") == "":
        return None
    return "/" + prefix.strip("/")


def _route_json(rid: str, host: str, prefix: str | None, target: Target) -> dict[str, Any]:
    match: dict[str, Any] = {"host": [host]}
    if prefix:
        match["path"] = [prefix, prefix + "/*"]
    handler: dict[str, Any] = {"handler": "reverse_proxy"}
    if isinstance(target, DynamicUpstreams):
        handler["dynamic_upstreams"] = {
            "source": "a",
            "name": target.name,
            "port": str(target.port),
            "refresh": target.refresh,
            "resolver": {"addresses": [target.resolver]},
            "versions": {"ipv4": True},
        }
        # an address that just left the name (cached up to `refresh`) no longer exists: fail its dial fast
        handler["transport"] = {"protocol": "http", "dial_timeout": "1s"}
    else:
        handler["upstreams"] = [{"dial": u} for u in target]
    # retry another upstream (or the same one briefly) when a dial fails: a container that just stopped
    # never turns into an error for the client
    handler["load_balancing"] = {
        "selection_policy": {"policy": "round_robin"},
        "try_duration": "5s",
        "try_interval": "100ms",
    }
    return {"@id": rid, "match": [match], "handle": [handler], "terminal": True}


def _parse_route(raw: Any) -> EdgeRoute | None:
    if not isinstance(raw, dict):
        return None
    rid = raw.get("@id")
    service_id = parse_route_id(rid) if isinstance(rid, str) else None
    if rid is None or service_id is None:
        return None
    match = (raw.get("match") or [{}])[0]
    hosts = match.get("host") or [""]
    paths = match.get("path") or []
    handle = (raw.get("handle") or [{}])[0]
    upstreams = [u.get("dial", "") for u in handle.get("upstreams") or []]
    return EdgeRoute(rid, service_id, hosts[0], upstreams, paths[0] if paths else None, _parse_dynamic(handle))


def _parse_dynamic(handle: dict[str, Any]) -> DynamicUpstreams | None:
    dyn = handle.get("dynamic_upstreams")
    if not isinstance(dyn, dict) or dyn.get("source") != "a":
        return None
    try:
        resolver = ((dyn.get("resolver") or {}).get("addresses") or [""])[0]
        return DynamicUpstreams(str(dyn["name"]), int(dyn["port"]), str(resolver), str(dyn.get("refresh") or ""))
    except (KeyError, TypeError, ValueError):
        return None


class CaddyEdge:
    """Drives the routes of one Caddy server (`slipway`) through the admin API; safe to share in a process."""

    def __init__(
        self,
        admin_url: str,
        http_port: int,
        https_port: int,
        *,
        server: str = "slipway",
        acme_public_domains: bool = False,
        acme_email: str | None = None,
        acme_issuer: AcmeIssuer | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.http_port = http_port
        self.https_port = https_port
        self.server = server
        self.acme_public_domains = acme_public_domains
        self.acme_issuer = acme_issuer or AcmeIssuer(email=acme_email)
        self._client = httpx.AsyncClient(base_url=self.admin_url, timeout=timeout, transport=transport)
        self._lock = asyncio.Lock()  # one writer at a time in this process; If-Match guards against the others

    @property
    def _routes_path(self) -> str:
        return f"/config/apps/http/servers/{self.server}/routes"

    # -- admin API ---------------------------------------------------------------------------------
    async def _call(self, method: str, path: str, body: Any = None, if_match: str | None = None) -> Any:
        headers = {"If-Match": if_match} if if_match else None
        try:
            r = await self._client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EdgeError(f"caddy admin API at {self.admin_url} unreachable: {exc}") from exc
        if r.status_code == 412 and if_match:
            raise _Moved()
        if r.status_code >= 400:
            raise EdgeError(f"caddy {method} {path}: {r.status_code} {r.text.strip()[:500]}")
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            return None

    async def ping(self) -> bool:
        try:
            return (await self._client.get("/config/")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _raw_routes(self) -> list[Any]:
        raw = await self._call("GET", self._routes_path)
        return raw if isinstance(raw, list) else []

    async def _insert(self, route: dict[str, Any], at_start: bool) -> None:
        """Insert `route` before the catch-all (or first). The index is computed from the routes as read, so the
        write carries their ETag: if any other writer (another process, a restarted deployer) changed them in
        between, Caddy refuses it (412) and it is computed again, never landing after the catch-all."""
        for attempt in range(INSERT_ATTEMPTS):
            r = await self._client.get(self._routes_path)
            if r.status_code >= 400:
                raise EdgeError(f"caddy GET {self._routes_path}: {r.status_code} {r.text.strip()[:500]}")
            raw = r.json() if r.content else None
            raw = raw if isinstance(raw, list) else []
            tag = r.headers.get("Etag")
            try:
                if not raw:
                    # `routes` may be missing or null; PATCH replaces (or sets) the whole array
                    method = "PATCH" if await self._has_routes_key() else "PUT"
                    await self._call(method, self._routes_path, [route], if_match=tag)
                    return
                catch_all = next((i for i, x in enumerate(raw) if not (x or {}).get("match")), len(raw))
                index = 0 if at_start else catch_all
                if index == len(raw):
                    await self._call("POST", self._routes_path, route, if_match=tag)
                else:  # PUT on an index inserts there
                    await self._call("PUT", f"{self._routes_path}/{index}", route, if_match=tag)
                return
            except _Moved:
                log.info("edge: routes changed while inserting %s: read again", route.get("@id"))
                await asyncio.sleep(0.05 * (attempt + 1))
        raise EdgeError(f"caddy's routes kept changing: {route.get('@id')} not inserted")

    async def _has_routes_key(self) -> bool:
        server = await self._call("GET", f"/config/apps/http/servers/{self.server}")
        if not isinstance(server, dict):
            raise EdgeError(f"caddy has no server named {self.server!r}")
        return "routes" in server

    # -- routes ------------------------------------------------------------------------------------
    async def list_routes(self) -> list[EdgeRoute]:
        """Every route the deployer owns, in Caddy's order."""
        return [r for r in map(_parse_route, await self._raw_routes()) if r is not None]

    async def set_service_routes(
        self, service_id: str, routes: Sequence[RouteLike], path_prefix: str | None = None
    ) -> list[str]:
        """Create or replace the service's routes; `(host, upstream)` pairs sharing a host are load-balanced.

        An unchanged route is left alone (no reload); a static route whose host is unchanged only gets its
        upstreams replaced in place. Returns the ids.
        """
        desired = _normalize(routes, path_prefix)
        async with self._lock:
            routed = await self.list_routes()  # the TLS sync below writes no route: read once
            held = {(r.host, r.path_prefix): r.service_id for r in routed if r.service_id != service_id}
            taken = sorted(f"{host}{prefix or ''}" for host, prefix in desired if (host, prefix) in held)
            if taken:  # never decided by route order; the other tenant is not named
                raise HostTaken(f"{', '.join(taken)} already routed to another service: not taken over")
            # a public host's ACME policy goes in before its route: Caddy would otherwise issue it an
            # internal-CA certificate at once and keep that one
            await self._sync_tls(adding=[host for host, _ in desired])
            current = {r.route_id: r for r in routed if r.service_id == service_id}
            ids: list[str] = []
            for n, ((host, prefix), target) in enumerate(desired.items()):
                rid = route_id(service_id, n)
                ids.append(rid)
                have = current.pop(rid, None)
                if have is None:
                    log.info("edge: route %s for %s%s added", rid, host, prefix or "")
                    await self._insert(_route_json(rid, host, prefix, target), at_start=prefix is not None)
                elif have.host != host or have.path_prefix != prefix:
                    await self._call("PATCH", f"/id/{rid}", _route_json(rid, host, prefix, target))
                elif isinstance(target, DynamicUpstreams):
                    if have.dynamic != target or have.upstreams:
                        await self._call("PATCH", f"/id/{rid}", _route_json(rid, host, prefix, target))
                elif have.dynamic is not None:
                    await self._call("PATCH", f"/id/{rid}", _route_json(rid, host, prefix, target))
                elif have.upstreams != target:
                    await self._call("PATCH", f"/id/{rid}/handle/0/upstreams", [{"dial": u} for u in target])
            for rid in current:
                log.info("edge: route %s removed (no longer wanted)", rid)
                await self._call("DELETE", f"/id/{rid}")
            await self._sync_tls()
        return ids

    async def remove_service(self, service_id: str) -> None:
        async with self._lock:
            for route in await self.list_routes():
                if route.service_id == service_id:
                    log.info("edge: route %s for %s removed with its service", route.route_id, route.host)
                    await self._call("DELETE", f"/id/{route.route_id}")
            await self._sync_tls()

    async def ensure(self, routes: Mapping[str, Sequence[RouteLike]], prune: bool = False) -> None:
        """Re-apply the full set (service id → routes), e.g. after Caddy restarted empty; with `prune`,
        routes of services not in the set are removed."""
        for service_id, service_routes in routes.items():
            try:
                await self.set_service_routes(service_id, service_routes)
            except HostTaken as exc:  # the first claimant keeps the host; the rest still get theirs
                log.warning("service %s not routed: %s", service_id, exc)
        if prune:
            for route in await self.list_routes():
                if route.service_id not in routes:
                    await self.remove_service(route.service_id)

    async def prune(self, keep: set[str]) -> list[str]:
        """Remove the routes of every service not in `keep`; answers the service ids removed."""
        gone = sorted({r.service_id for r in await self.list_routes() if r.service_id not in keep})
        for service_id in gone:
            await self.remove_service(service_id)
        return gone

    # -- TLS ---------------------------------------------------------------------------------------
    async def _sync_tls(self, adding: Sequence[str] = ()) -> None:
        """The ACME policy's subjects: the public hosts routed now (and those about to be)."""
        if not self.acme_public_domains:
            return
        hosts = [r.host for r in await self.list_routes()] + list(adding)
        wanted = tls_policies(hosts, issuer=self.acme_issuer)
        path = "/config/apps/tls/automation/policies"
        policies = await self._call("GET", path)
        policies = policies if isinstance(policies, list) else []
        existing = next((p for p in policies if isinstance(p, dict) and p.get("@id") == ACME_POLICY_ID), None)
        if not wanted:
            if existing is not None:
                await self._call("DELETE", f"/id/{ACME_POLICY_ID}")
        elif existing is None:
            if policies:
                await self._call("PUT", f"{path}/0", wanted[0])  # before the internal catch-all
            else:
                await self._call("PATCH" if await self._has_tls_policies_key() else "PUT", path, wanted)
        elif existing != wanted[0]:
            await self._call("PATCH", f"/id/{ACME_POLICY_ID}", wanted[0])

    async def _has_tls_policies_key(self) -> bool:
        automation = await self._call("GET", "/config/apps/tls/automation")
        return isinstance(automation, dict) and "policies" in automation

    async def tls_automation_policies(self) -> list[dict[str, Any]]:
        policies = await self._call("GET", "/config/apps/tls/automation/policies")
        return policies if isinstance(policies, list) else []

    # -- URLs --------------------------------------------------------------------------------------
    def url(self, host: str, https: bool = True) -> str:
        if https:
            return f"https://{host}" + ("" if self.https_port == 443 else f":{self.https_port}")
        return f"http://{host}" + ("" if self.http_port == 80 else f":{self.http_port}")

    async def aclose(self) -> None:
        await self._client.aclose()
