"""Qovery's organization API tokens: the secret is answered once, at creation."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from iam.access import role_name
from iam.members.service import check_grantable
from iam.models import ApiToken, User
from iam.roles import policy
from iam.tokens import service
from slipway.db import SessionDep
from slipway.errors import Conflict, NotFound, Unauthorized
from slipway.principal import PrincipalDep
from slipway.timeutil import rfc3339

router = APIRouter(prefix="/organization/{organization_id}/apiToken")


class ApiTokenCreateRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1024)
    scope: Literal["ADMIN"] | None = None  # deprecated upstream; ADMIN means the Admin role
    role_id: uuid.UUID | None


class ApiTokenOut(BaseModel):
    id: str
    created_at: str
    name: str
    description: str
    role_name: str
    role_id: str


class ApiTokenCreated(ApiTokenOut):
    token: str


class ApiTokenList(BaseModel):
    results: list[ApiTokenOut]


async def _render(session, token: ApiToken) -> dict[str, str]:  # type: ignore[no-untyped-def]
    role_id = token.role_id or policy.ADMIN
    return {
        "id": str(token.id),
        "created_at": rfc3339(token.created_at),
        "name": token.name,
        "description": token.description or "",
        "role_name": await role_name(session, role_id),
        "role_id": str(role_id),
    }


@router.get("", response_model=ApiTokenList)
async def list_tokens(organization_id: uuid.UUID, session: SessionDep) -> ApiTokenList:
    rows = await session.execute(
        select(ApiToken)
        .where(ApiToken.organization_id == organization_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at)
    )
    return ApiTokenList(results=[ApiTokenOut(**await _render(session, t)) for t in rows.scalars()])


@router.post("", status_code=201, response_model=ApiTokenCreated)
async def create_token(
    organization_id: uuid.UUID, body: ApiTokenCreateRequest, principal: PrincipalDep, session: SessionDep
) -> ApiTokenCreated:
    if principal.user_id is None:
        raise Unauthorized("an account is required")
    role_id = body.role_id or policy.ADMIN
    await check_grantable(session, principal, organization_id, role_id)
    taken = await session.execute(
        select(ApiToken.id).where(
            ApiToken.organization_id == organization_id, ApiToken.name == body.name, ApiToken.revoked_at.is_(None)
        )
    )
    if taken.first() is not None:
        raise Conflict(f"an API token named '{body.name}' already exists")
    user = await session.get(User, principal.user_id)
    assert user is not None
    issued = await service.issue_token(
        session, user, name=body.name, description=body.description, organization_id=organization_id, role_id=role_id
    )
    token = await session.get(ApiToken, issued.token_id)
    assert token is not None
    await session.refresh(token)
    return ApiTokenCreated(**await _render(session, token), token=issued.secret)


@router.delete("/{token_id}", status_code=204)
async def delete_token(organization_id: uuid.UUID, token_id: uuid.UUID, session: SessionDep) -> Response:
    token = await session.get(ApiToken, token_id)
    if token is None or token.organization_id != organization_id or token.revoked_at is not None:
        raise NotFound("API token not found")
    await service.revoke(session, token_id)
    return Response(status_code=204)
