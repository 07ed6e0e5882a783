"""Qovery's container registry routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from catalog.organization.service import ensure_organization
from catalog.registry import service
from catalog.registry.schemas import (
    AvailableContainerRegistryResponseList,
    ContainerRegistry,
    ContainerRegistryRequest,
    ContainerRegistryResponseList,
)
from catalog.settings import CatalogSettings
from slipway.crypto import Keyring, keyring_from
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])
PREFIX = "/organization/{organization_id}/containerRegistry"


def _settings(request: Request) -> CatalogSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _keys(request: Request) -> Keyring:
    return keyring_from(_settings(request))


@router.get("/availableContainerRegistry", response_model=AvailableContainerRegistryResponseList)
async def available_registries() -> AvailableContainerRegistryResponseList:
    return AvailableContainerRegistryResponseList(results=service.AVAILABLE)


@router.get(PREFIX, response_model=ContainerRegistryResponseList, response_model_exclude_none=True)
async def list_registries(
    organization_id: uuid.UUID, request: Request, session: SessionDep
) -> ContainerRegistryResponseList:
    await ensure_organization(session, _settings(request), organization_id)
    keys = _keys(request)
    registries = await service.listing(session, organization_id)
    return ContainerRegistryResponseList(
        results=[service.render(r, keys, await service.used_by(session, r.id)) for r in registries]
    )


@router.post(PREFIX, status_code=201, response_model=ContainerRegistry, response_model_exclude_none=True)
async def create_registry(
    organization_id: uuid.UUID, body: ContainerRegistryRequest, request: Request, session: SessionDep
) -> ContainerRegistry:
    await ensure_organization(session, _settings(request), organization_id)
    keys = _keys(request)
    return service.render(await service.create(session, organization_id, body, keys), keys)


@router.get(PREFIX + "/{registry_id}", response_model=ContainerRegistry, response_model_exclude_none=True)
async def get_registry(
    organization_id: uuid.UUID, registry_id: uuid.UUID, request: Request, session: SessionDep
) -> ContainerRegistry:
    await ensure_organization(session, _settings(request), organization_id)
    registry = await service.get(session, organization_id, registry_id)
    return service.render(registry, _keys(request), await service.used_by(session, registry.id))


@router.put(PREFIX + "/{registry_id}", response_model=ContainerRegistry, response_model_exclude_none=True)
async def edit_registry(
    organization_id: uuid.UUID,
    registry_id: uuid.UUID,
    body: ContainerRegistryRequest,
    request: Request,
    session: SessionDep,
) -> ContainerRegistry:
    await ensure_organization(session, _settings(request), organization_id)
    keys = _keys(request)
    registry = await service.get(session, organization_id, registry_id)
    await service.edit(session, registry, body, keys)
    return service.render(registry, keys, await service.used_by(session, registry.id))


@router.delete(PREFIX + "/{registry_id}", status_code=204)
async def delete_registry(
    organization_id: uuid.UUID, registry_id: uuid.UUID, request: Request, session: SessionDep
) -> Response:
    await ensure_organization(session, _settings(request), organization_id)
    await service.delete(session, await service.get(session, organization_id, registry_id))
    return Response(status_code=204)
