"""HTTP clients of the services the deployer calls: catalog (desired state, versions) and builder (builds)."""

from __future__ import annotations

from typing import Any

import httpx

from slipway.desired import DesiredState
from slipway.joboutput import OutputValue
from slipway.principal import HEADER, service_principal, sign


class UpstreamError(Exception):
    """A call to another service failed; `status` is its HTTP status (0 when unreachable)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Internal:
    """Signed service-principal calls to one internal service."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, key: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.key = key

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {HEADER: sign(service_principal("deployer"), self.key)}
        for attempt in (1, 2):
            try:
                response = await self.http.request(method, self.base_url + path, headers=headers, **kwargs)
                break
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                # a pooled keep-alive connection the server closed as it was reused: every internal call the
                # deployer makes is idempotent (reads, version PUT, builds keyed by deployment), so once more
                if attempt == 2:
                    raise UpstreamError(0, f"{self.base_url} unreachable: {exc.__class__.__name__}") from exc
            except httpx.HTTPError as exc:
                raise UpstreamError(0, f"{self.base_url} unreachable: {exc.__class__.__name__}") from exc
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail") or response.text)
            except ValueError:
                detail = response.text[:500]
            raise UpstreamError(response.status_code, detail)
        return response


class Catalog(Internal):
    async def desired_state(self, environment_id: str) -> DesiredState:
        r = await self.call("GET", f"/internal/environment/{environment_id}/desired-state")
        return DesiredState.model_validate(r.json())

    async def sealed_state(self, environment_id: str) -> DesiredState:
        """The environment with every secret sealed (nothing decrypted): for statuses and queuing actions."""
        r = await self.call("GET", f"/internal/environment/{environment_id}/sealed-state")
        return DesiredState.model_validate(r.json())

    async def service_sealed_state(self, service_id: str) -> DesiredState:
        """The sealed state of a service's environment, with that one service."""
        r = await self.call("GET", f"/internal/service/{service_id}/sealed-state")
        return DesiredState.model_validate(r.json())

    async def tombstone(self, tombstone_id: str) -> DesiredState:
        """What a deleted environment or service ran (catalog keeps it until `drop_tombstone`)."""
        r = await self.call("GET", f"/internal/tombstone/{tombstone_id}")
        return DesiredState.model_validate(r.json())

    async def drop_tombstone(self, tombstone_id: str) -> None:
        await self.call("DELETE", f"/internal/tombstone/{tombstone_id}")

    async def project_environments(self, project_id: str) -> list[str]:
        r = await self.call("GET", f"/internal/project/{project_id}/environments")
        return list(r.json()["environment_ids"])

    async def scope(self, service_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/internal/scope/service/{service_id}")).json())

    async def cluster_connection(self, cluster_id: str) -> dict[str, Any]:
        """How a cluster is reached: {engine, engine_host, kubeconfig} (the kubeconfig decrypted)."""
        return dict((await self.call("GET", f"/internal/cluster/{cluster_id}/connection")).json())

    async def environment_scope(self, environment_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/internal/scope/environment/{environment_id}")).json())

    async def set_version(
        self, service_id: str, kind: str, *, git_commit_id: str | None = None, image_tag: str | None = None
    ) -> DesiredState:
        """Record the version to deploy on a service of `kind`; answers its sealed state after the change."""
        body = {"git_commit_id": git_commit_id, "image_tag": image_tag}
        r = await self.call("PUT", f"/internal/service/{service_id}/version", json=body, params={"kind": kind})
        return DesiredState.model_validate(r.json())

    async def job_outputs(self, job_id: str, execution_id: str, outputs: dict[str, OutputValue]) -> None:
        """Record what a job's run wrote (it replaces the job's previous outputs)."""
        body = {"execution_id": execution_id, "outputs": {k: v.model_dump() for k, v in outputs.items()}}
        await self.call("PUT", f"/internal/job/{job_id}/outputs", json=body)


class Builder(Internal):
    async def start(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict((await self.call("POST", "/internal/builds", json=body)).json())

    async def get(self, build_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/internal/builds/{build_id}")).json())

    async def cancel(self, build_id: str) -> None:
        await self.call("POST", f"/internal/builds/{build_id}/cancel")
