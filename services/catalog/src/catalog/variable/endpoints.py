"""Qovery's unified /variable routes (the gateway has authorized the caller), and the variable scope lookup."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from catalog.environment import service as environments
from catalog.models import Variable
from catalog.settings import CatalogSettings
from catalog.variable import parents, service
from catalog.variable.items import Item
from catalog.variable.lookup import find, find_builtin
from catalog.variable.render import render
from catalog.variable.schemas import (
    Scope,
    VariableAliasRequest,
    VariableEditRequest,
    VariableOverrideRequest,
    VariableRequest,
)
from catalog.variable.visible import visible
from slipway.crypto import Keyring, keyring_from
from slipway.db import SessionDep
from slipway.errors import NotFound
from slipway.principal import require_principal, require_service

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])
variable_scope_router = APIRouter(include_in_schema=False, dependencies=[Depends(require_service)])


def _keys(request: Request) -> Keyring:
    settings: CatalogSettings = request.app.state.settings
    return keyring_from(settings)


async def _targets(session: SessionDep, row: Variable) -> dict[uuid.UUID, Item]:
    if row.target_id is None:
        return {}
    try:
        target, _ = await find(session, row.target_id)
    except NotFound:  # a built-in whose service is gone
        return {}
    return {target.id: target}


@router.get("/variable")
async def list_variables(
    parent_id: uuid.UUID, scope: Scope, session: SessionDep, is_secret: bool | None = None
) -> dict[str, list[dict[str, Any]]]:
    parent = await parents.load(session, scope, parent_id, "scope")
    items = await visible(session, parent)
    by_id = {item.id: item for item in items}
    return {"results": [render(i, by_id) for i in items if is_secret is None or i.is_secret == is_secret]}


@router.post("/variable", status_code=201)
async def create_variable(body: VariableRequest, request: Request, session: SessionDep) -> dict[str, Any]:
    row, parent = await service.create(session, body, _keys(request))
    return render(await service.item_of(session, row, parent), {})


@router.put("/variable/{variable_id}")
async def edit_variable(
    variable_id: uuid.UUID, body: VariableEditRequest, request: Request, session: SessionDep
) -> dict[str, Any]:
    row = await service.stored(session, variable_id, "edited")
    await service.edit(session, row, body, _keys(request))
    return render(await service.item_of(session, row), await _targets(session, row))


@router.delete("/variable/{variable_id}", status_code=204)
async def delete_variable(variable_id: uuid.UUID, session: SessionDep) -> Response:
    await service.delete(session, await service.stored(session, variable_id, "deleted"))
    return Response(status_code=204)


@router.post("/variable/{variable_id}/alias", status_code=201)
async def create_variable_alias(
    variable_id: uuid.UUID, body: VariableAliasRequest, session: SessionDep
) -> dict[str, Any]:
    row, parent, target = await service.alias(session, variable_id, body)
    return render(await service.item_of(session, row, parent), {target.id: target})


@router.post("/variable/{variable_id}/override", status_code=201)
async def create_variable_override(
    variable_id: uuid.UUID, body: VariableOverrideRequest, request: Request, session: SessionDep
) -> dict[str, Any]:
    row, parent, target = await service.override(session, variable_id, body, _keys(request))
    return render(await service.item_of(session, row, parent), {target.id: target})


@variable_scope_router.get("/internal/scope/variable/{variable_id}")
async def variable_scope(variable_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
    """Where a variable (stored or built-in) lives, shaped like the environment and project scope answers."""
    row = await session.get(Variable, variable_id)
    if row is not None:
        organization_id, project_id, environment_id = row.organization_id, row.project_id, row.environment_id
    else:
        builtin = await find_builtin(session, variable_id)
        if builtin is None:
            raise NotFound("variable not found")
        organization_id, project_id, environment_id = None, builtin.project_id, builtin.environment_id
    if environment_id is None:
        return {"organization_id": str(organization_id), "project_id": str(project_id)}
    env = await environments.get(session, environment_id)
    return {
        "organization_id": str(env.organization_id),
        "project_id": str(env.project_id),
        "environment_id": str(env.id),
        "environment_mode": env.mode,
        "cluster_id": str(env.cluster_id),
    }
