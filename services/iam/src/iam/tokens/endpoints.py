"""Internal token routes (service principals only): bootstrap, introspection, revocation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field

from iam.tokens import service
from slipway.db import SessionDep
from slipway.errors import Forbidden
from slipway.principal import Principal, PrincipalDep

router = APIRouter(prefix="/internal", include_in_schema=False)


class BootstrapRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class BootstrapResponse(BaseModel):
    user_id: uuid.UUID
    token_id: uuid.UUID
    token: str


class IntrospectRequest(BaseModel):
    token: str = Field(min_length=1, max_length=512)


def _require_service(principal: Principal) -> None:
    if principal.kind != "service":
        raise Forbidden("internal endpoint")


@router.post("/bootstrap", status_code=201, response_model=BootstrapResponse)
async def bootstrap(body: BootstrapRequest, principal: PrincipalDep, session: SessionDep) -> BootstrapResponse:
    _require_service(principal)
    issued = await service.bootstrap_admin(session, body.email.lower())
    return BootstrapResponse(user_id=issued.user_id, token_id=issued.token_id, token=issued.secret)


@router.post("/introspect", response_model=Principal)
async def introspect(body: IntrospectRequest, principal: PrincipalDep, session: SessionDep) -> Principal:
    _require_service(principal)
    return await service.introspect(session, body.token)


@router.post("/tokens/{token_id}/revoke", status_code=204)
async def revoke(token_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    _require_service(principal)
    await service.revoke(session, token_id)
