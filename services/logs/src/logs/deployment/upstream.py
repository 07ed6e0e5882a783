"""Signed service calls to catalog (where an environment or project lives) and deployer (statuses)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from slipway.principal import HEADER, service_principal, sign

SCOPE_TTL = 300.0  # an environment never moves to another project or organization


class UpstreamError(Exception):
    """A call to another service failed; `status` is its HTTP status (0 when unreachable)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class Upstream:
    def __init__(self, http: httpx.AsyncClient, catalog_url: str, deployer_url: str, key: str) -> None:
        self.http = http
        self.catalog_url = catalog_url.rstrip("/")
        self.deployer_url = deployer_url.rstrip("/")
        self.key = key
        self._scopes: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, base: str, path: str) -> Any:
        headers = {HEADER: sign(service_principal("logs"), self.key)}
        try:
            r = await self.http.get(base + path, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise UpstreamError(0, f"{base} unreachable: {exc.__class__.__name__}") from exc
        if r.status_code >= 400:
            raise UpstreamError(r.status_code, r.text[:300])
        return r.json()

    async def scope(self, kind: str, ident: str) -> dict[str, Any]:
        """Catalog's `/internal/scope/{environment|project}/{id}` (cached; ids never change owner)."""
        key = f"{kind}:{ident}"
        cached = self._scopes.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = dict(await self.get(self.catalog_url, f"/internal/scope/{kind}/{ident}"))
        if len(self._scopes) > 10_000:
            self._scopes.clear()
        self._scopes[key] = (time.monotonic() + SCOPE_TTL, found)
        return found

    async def statuses_with_stages(self, environment_id: str) -> dict[str, Any]:
        return dict(await self.get(self.deployer_url, f"/environment/{environment_id}/statusesWithStages"))

    async def project_statuses(self, project_id: str) -> dict[str, Any]:
        """`{"results": [EnvironmentStatus…]}`: deployer's project route, else one call per environment."""
        try:
            return dict(await self.get(self.deployer_url, f"/project/{project_id}/environment/status"))
        except UpstreamError as exc:
            if exc.status not in (404, 405, 501):
                raise
        listing = await self.get(self.catalog_url, f"/project/{project_id}/environment")
        ids = [str(e["id"]) for e in listing.get("results", [])]
        found = await asyncio.gather(
            *(self.get(self.deployer_url, f"/environment/{i}/status") for i in ids), return_exceptions=True
        )
        results = []
        for status in found:
            if isinstance(status, UpstreamError) and status.status == 404:
                continue  # deleted meanwhile
            if isinstance(status, BaseException):
                raise status
            results.append(status)
        return {"results": results}
