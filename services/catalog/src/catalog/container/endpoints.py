"""Qovery's container routes (the gateway has authorized the caller), and the service scope lookup."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from catalog.container import service
from catalog.container.schemas import Container, ContainerRequest, ContainerResponseList
from catalog.environment import service as environments
from catalog.models import Service
from catalog.settings import KeysDep
from slipway.db import SessionDep
from slipway.errors import NotFound
from slipway.principal import require_principal, require_service

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])
# The gateway resolves /container/{id}, /application/{id}, /service/{id}… through kind "service".
service_scope_router = APIRouter(include_in_schema=False, dependencies=[Depends(require_service)])


@router.get(
    "/environment/{environment_id}/container", response_model=ContainerResponseList, response_model_exclude_none=True
)
async def list_containers(environment_id: uuid.UUID, session: SessionDep) -> ContainerResponseList:
    await environments.get(session, environment_id)
    return ContainerResponseList(
        results=[await service.render(session, c) for c in await service.listing(session, environment_id)]
    )


@router.post(
    "/environment/{environment_id}/container",
    status_code=201,
    response_model=Container,
    response_model_exclude_none=True,
)
async def create_container(environment_id: uuid.UUID, body: ContainerRequest, session: SessionDep) -> Container:
    env = await environments.get(session, environment_id)
    return await service.render(session, await service.create(session, env, body))


@router.get("/container/{container_id}", response_model=Container, response_model_exclude_none=True)
async def get_container(container_id: uuid.UUID, session: SessionDep) -> Container:
    return await service.render(session, await service.get(session, container_id))


@router.put("/container/{container_id}", response_model=Container, response_model_exclude_none=True)
async def edit_container(container_id: uuid.UUID, body: ContainerRequest, session: SessionDep) -> Container:
    container = await service.get(session, container_id)
    await service.edit(session, container, body)
    return await service.render(session, container)


@router.delete("/container/{container_id}", status_code=204)
async def delete_container(container_id: uuid.UUID, session: SessionDep, keys: KeysDep) -> Response:
    await service.delete(session, await service.get(session, container_id), keys)
    return Response(status_code=204)


@service_scope_router.get("/internal/scope/service/{service_id}")
async def service_scope(service_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
    found = await session.get(Service, service_id)
    if found is None:
        raise NotFound("service not found")
    env = await environments.get(session, found.environment_id)
    return {
        "organization_id": str(env.organization_id),
        "project_id": str(env.project_id),
        "environment_id": str(env.id),
        "environment_mode": env.mode,
        "cluster_id": str(env.cluster_id),
        "kind": found.kind,
    }
