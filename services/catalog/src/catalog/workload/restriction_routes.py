"""Qovery's deployment restriction routes, the same four under /application/{id} and /job/{id} (the gateway has
authorized the caller; each kind's endpoints module registers them on its router)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from catalog.workload import restrictions, store
from catalog.workload.restrictions import (
    DeploymentRestriction,
    DeploymentRestrictionList,
    DeploymentRestrictionRequest,
)
from slipway.db import SessionDep


def routes(router: APIRouter, kind: str, prefix: str) -> None:
    """List, create, edit and delete under /{prefix}/{id}/deploymentRestriction; the id must be of that kind (404)."""
    base = f"/{prefix}/{{service_id}}/deploymentRestriction"

    @router.get(base, response_model=DeploymentRestrictionList, name=f"list_{prefix}_deployment_restrictions")
    async def list_restrictions(service_id: uuid.UUID, session: SessionDep) -> DeploymentRestrictionList:
        return restrictions.listing(await store.get(session, service_id, kind))

    @router.post(
        base, status_code=201, response_model=DeploymentRestriction, name=f"create_{prefix}_deployment_restriction"
    )
    async def create_restriction(
        service_id: uuid.UUID, body: DeploymentRestrictionRequest, session: SessionDep
    ) -> DeploymentRestriction:
        return await restrictions.create(session, await store.get(session, service_id, kind), body)

    @router.put(
        f"{base}/{{restriction_id}}", response_model=DeploymentRestriction, name=f"edit_{prefix}_deployment_restriction"
    )
    async def edit_restriction(
        service_id: uuid.UUID, restriction_id: uuid.UUID, body: DeploymentRestrictionRequest, session: SessionDep
    ) -> DeploymentRestriction:
        return await restrictions.edit(session, await store.get(session, service_id, kind), restriction_id, body)

    @router.delete(f"{base}/{{restriction_id}}", status_code=204, name=f"delete_{prefix}_deployment_restriction")
    async def delete_restriction(service_id: uuid.UUID, restriction_id: uuid.UUID, session: SessionDep) -> Response:
        await restrictions.delete(session, await store.get(session, service_id, kind), restriction_id)
        return Response(status_code=204)
