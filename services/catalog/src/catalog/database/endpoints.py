"""Qovery's database routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from catalog.database import service
from catalog.database.schemas import (
    Credentials,
    Database,
    DatabaseConfigurationResponseList,
    DatabaseEditRequest,
    DatabaseRequest,
    DatabaseResponseList,
)
from catalog.environment import service as environments
from catalog.settings import KeysDep
from slipway.crypto import Keyring, keyring_from
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


def _keys(request: Request) -> Keyring:
    return keyring_from(request.app.state.settings)


@router.get(
    "/environment/{environment_id}/database", response_model=DatabaseResponseList, response_model_exclude_none=True
)
async def list_databases(environment_id: uuid.UUID, session: SessionDep) -> DatabaseResponseList:
    await environments.get(session, environment_id)
    return DatabaseResponseList(results=[service.render(d) for d in await service.listing(session, environment_id)])


@router.post(
    "/environment/{environment_id}/database", status_code=201, response_model=Database, response_model_exclude_none=True
)
async def create_database(
    environment_id: uuid.UUID, body: DatabaseRequest, request: Request, session: SessionDep
) -> Database:
    env = await environments.get(session, environment_id)
    return service.render(await service.create(session, env, body, _keys(request)))


@router.get(
    "/environment/{environment_id}/databaseConfiguration",
    response_model=DatabaseConfigurationResponseList,
    response_model_exclude_none=True,
)
async def list_database_configurations(
    environment_id: uuid.UUID, session: SessionDep
) -> DatabaseConfigurationResponseList:
    await environments.get(session, environment_id)
    return DatabaseConfigurationResponseList(results=service.configurations())


@router.get("/database/{database_id}", response_model=Database, response_model_exclude_none=True)
async def get_database(database_id: uuid.UUID, session: SessionDep) -> Database:
    return service.render(await service.get(session, database_id))


@router.put("/database/{database_id}", response_model=Database, response_model_exclude_none=True)
async def edit_database(database_id: uuid.UUID, body: DatabaseEditRequest, session: SessionDep) -> Database:
    database = await service.get(session, database_id)
    await service.edit(session, database, body)
    return service.render(database)


@router.delete("/database/{database_id}", status_code=204)
async def delete_database(database_id: uuid.UUID, session: SessionDep, keys: KeysDep) -> Response:
    await service.delete(session, await service.get(session, database_id), keys)
    return Response(status_code=204)


@router.get("/database/{database_id}/masterCredentials", response_model=Credentials)
async def get_master_credentials(
    database_id: uuid.UUID, request: Request, response: Response, session: SessionDep
) -> Credentials:
    # the only answer that holds the password in plain text: never cached
    response.headers["Cache-Control"] = "no-store"
    return service.credentials(await service.get(session, database_id), _keys(request))
