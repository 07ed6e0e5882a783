"""Where services and environments live, asked of catalog with a signed service principal (cached briefly)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from slipway.principal import HEADER, service_principal, sign


class CatalogUnavailable(Exception):
    """catalog did not answer (the client should retry: 1011)."""


class Scopes:
    def __init__(self, http: httpx.AsyncClient, base_url: str, key: str, ttl: float = 60.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Any]] = {}

    async def _get(self, path: str, *, cache: bool = True) -> Any:
        """The JSON body, or None when catalog answers 404; cached for `ttl` seconds."""
        hit = self._cache.get(path)
        if cache and hit is not None and hit[0] > time.monotonic():
            return hit[1]
        headers = {HEADER: sign(service_principal("logs"), self.key)}
        try:
            response = await self.http.get(self.base_url + path, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"catalog unreachable: {exc.__class__.__name__}") from exc
        if response.status_code in (404, 422):
            value = None
        elif response.status_code >= 400:
            raise CatalogUnavailable(f"catalog answered {response.status_code}")
        else:
            value = response.json()
        if cache:
            self._cache[path] = (time.monotonic() + self.ttl, value)
            if len(self._cache) > 10_000:
                self._cache.clear()
        return value

    async def service(self, service_id: str) -> dict[str, str] | None:
        """`{organization_id, project_id, environment_id, cluster_id, kind, …}` or None (no such service)."""
        return await self._get(f"/internal/scope/service/{service_id}")  # type: ignore[no-any-return]

    async def environment(self, environment_id: str) -> dict[str, str] | None:
        return await self._get(f"/internal/scope/environment/{environment_id}")  # type: ignore[no-any-return]

    async def project(self, project_id: str) -> dict[str, str] | None:
        return await self._get(f"/internal/scope/project/{project_id}")  # type: ignore[no-any-return]

    async def project_environments(self, project_id: str) -> list[str]:
        body = await self._get(f"/project/{project_id}/environment", cache=False)
        return [str(e["id"]) for e in (body or {}).get("results", [])]

    async def organization_projects(self, organization_id: str) -> list[str]:
        body = await self._get(f"/organization/{organization_id}/project", cache=False)
        return [str(p["id"]) for p in (body or {}).get("results", [])]
