"""Qovery's custom domain routes of applications and containers (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from catalog.domain import service
from catalog.domain.schemas import CustomDomain, CustomDomainRequest, CustomDomainResponseList
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


def _routes(kind: str, prefix: str) -> None:
    """The same five routes under /application/{id} and /container/{id}; the id must be of that kind."""
    base = f"/{prefix}/{{service_id}}/customDomain"

    @router.get(base, response_model=CustomDomainResponseList, name=f"list_{prefix}_custom_domains")
    async def list_domains(service_id: uuid.UUID, session: SessionDep) -> CustomDomainResponseList:
        svc = await service.workload(session, service_id, kind)
        host = service.public_host(svc, await service.cluster_of(session, svc))
        return CustomDomainResponseList(
            results=[service.render(d, host) for d in await service.listing(session, svc.id)]
        )

    @router.post(base, status_code=201, response_model=CustomDomain, name=f"create_{prefix}_custom_domain")
    async def create_domain(service_id: uuid.UUID, body: CustomDomainRequest, session: SessionDep) -> CustomDomain:
        svc = await service.workload(session, service_id, kind)
        host = service.public_host(svc, await service.cluster_of(session, svc))
        return service.render(await service.create(session, svc, body), host)

    @router.put(f"{base}/{{domain_id}}", response_model=CustomDomain, name=f"edit_{prefix}_custom_domain")
    async def edit_domain(
        service_id: uuid.UUID, domain_id: uuid.UUID, body: CustomDomainRequest, session: SessionDep
    ) -> CustomDomain:
        svc = await service.workload(session, service_id, kind)
        row = await service.get(session, svc, domain_id)
        await service.edit(session, svc, row, body)
        return service.render(row, service.public_host(svc, await service.cluster_of(session, svc)))

    @router.delete(f"{base}/{{domain_id}}", status_code=204, name=f"delete_{prefix}_custom_domain")
    async def delete_domain(service_id: uuid.UUID, domain_id: uuid.UUID, session: SessionDep) -> Response:
        svc = await service.workload(session, service_id, kind)
        await service.delete(session, svc, await service.get(session, svc, domain_id))
        return Response(status_code=204)


_routes("APPLICATION", "application")
_routes("CONTAINER", "container")
