"""Qovery's application routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response

from catalog.application import service
from catalog.application.schemas import Application, ApplicationRequest, ApplicationResponseList
from catalog.environment import service as environments
from catalog.settings import KeysDep
from catalog.workload import restriction_routes
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


@router.get(
    "/environment/{environment_id}/application",
    response_model=ApplicationResponseList,
    response_model_exclude_none=True,
)
async def list_applications(
    environment_id: uuid.UUID,
    session: SessionDep,
    to_update: bool = Query(default=False, alias="toUpdate"),  # accepted; every application is current
) -> ApplicationResponseList:
    await environments.get(session, environment_id)
    return ApplicationResponseList(
        results=[await service.render(session, a) for a in await service.listing(session, environment_id)]
    )


@router.post(
    "/environment/{environment_id}/application",
    status_code=201,
    response_model=Application,
    response_model_exclude_none=True,
)
async def create_application(environment_id: uuid.UUID, body: ApplicationRequest, session: SessionDep) -> Application:
    env = await environments.get(session, environment_id)
    return await service.render(session, await service.create(session, env, body))


@router.get("/application/{application_id}", response_model=Application, response_model_exclude_none=True)
async def get_application(application_id: uuid.UUID, session: SessionDep) -> Application:
    return await service.render(session, await service.get(session, application_id))


@router.put("/application/{application_id}", response_model=Application, response_model_exclude_none=True)
async def edit_application(
    application_id: uuid.UUID, session: SessionDep, body: dict[str, Any] = Body(...)
) -> Application:
    """ApplicationEditRequest: merged onto the stored application, then validated like a create."""
    application = await service.get(session, application_id)
    await service.edit(session, application, body)
    return await service.render(session, application)


@router.delete("/application/{application_id}", status_code=204)
async def delete_application(application_id: uuid.UUID, session: SessionDep, keys: KeysDep) -> Response:
    await service.delete(session, await service.get(session, application_id), keys)
    return Response(status_code=204)


restriction_routes.routes(router, service.KIND, "application")  # /application/{id}/deploymentRestriction[/{id}]
