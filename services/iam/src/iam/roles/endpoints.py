"""Available roles and custom roles (Qovery's Organization Custom Role calls)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from iam.models import ApiToken, CustomRole, Invitation, Membership
from iam.roles import policy
from slipway.db import SessionDep, flush_or_conflict
from slipway.errors import Conflict, NotFound
from slipway.timeutil import utcnow

router = APIRouter(prefix="/organization/{organization_id}")

ClusterPermission = Literal["VIEWER", "ENV_CREATOR", "ADMIN"]
ProjectPermission = Literal["NO_ACCESS", "VIEWER", "DEPLOYER", "MANAGER"]
EnvironmentType = Literal["DEVELOPMENT", "PREVIEW", "PRODUCTION", "STAGING"]


class AvailableRole(BaseModel):
    id: str
    name: str


class AvailableRoleList(BaseModel):
    results: list[AvailableRole]


class ClusterGrant(BaseModel):
    cluster_id: uuid.UUID
    permission: ClusterPermission


class EnvironmentGrant(BaseModel):
    environment_type: EnvironmentType
    permission: ProjectPermission


class ProjectGrant(BaseModel):
    project_id: uuid.UUID
    is_admin: bool = False
    permissions: list[EnvironmentGrant] = []

    @field_validator("permissions")
    @classmethod
    def one_per_type(cls, value: list[EnvironmentGrant]) -> list[EnvironmentGrant]:
        types = [p.environment_type for p in value]
        if len(types) != len(set(types)):
            raise ValueError("at most one permission per environment_type")
        return value


class CustomRoleCreateRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)


class CustomRoleUpdateRequest(CustomRoleCreateRequest):
    cluster_permissions: list[ClusterGrant]
    project_permissions: list[ProjectGrant]


class CustomRoleOut(BaseModel):
    id: str
    name: str
    description: str
    cluster_permissions: list[dict[str, object]]
    project_permissions: list[dict[str, object]]


class CustomRoleList(BaseModel):
    results: list[CustomRoleOut]


def _render(role: CustomRole) -> CustomRoleOut:
    return CustomRoleOut(
        id=str(role.id),
        name=role.name,
        description=role.description or "",
        cluster_permissions=role.cluster_permissions or [],
        project_permissions=role.project_permissions or [],
    )


async def _custom(session: AsyncSession, organization_id: uuid.UUID) -> list[CustomRole]:
    rows = await session.execute(
        select(CustomRole).where(CustomRole.organization_id == organization_id).order_by(CustomRole.created_at)
    )
    return list(rows.scalars())


async def _one(session: AsyncSession, organization_id: uuid.UUID, role_id: uuid.UUID) -> CustomRole:
    role = await session.get(CustomRole, role_id)
    if role is None or role.organization_id != organization_id:
        raise NotFound("custom role not found")
    return role


@router.get("/availableRole", response_model=AvailableRoleList)
async def available_roles(organization_id: uuid.UUID, session: SessionDep) -> AvailableRoleList:
    roles = [AvailableRole(id=str(rid), name=name) for rid, name in policy.BUILTIN_NAMES.items()]
    roles += [AvailableRole(id=str(r.id), name=r.name) for r in await _custom(session, organization_id)]
    return AvailableRoleList(results=roles)


@router.get("/customRole", response_model=CustomRoleList)
async def list_custom_roles(organization_id: uuid.UUID, session: SessionDep) -> CustomRoleList:
    return CustomRoleList(results=[_render(r) for r in await _custom(session, organization_id)])


async def _flush_unique(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"a role named '{name}' already exists")


@router.post("/customRole", status_code=201, response_model=CustomRoleOut)
async def create_custom_role(
    organization_id: uuid.UUID, body: CustomRoleCreateRequest, session: SessionDep
) -> CustomRoleOut:
    if body.name.lower() in {n.lower() for n in policy.BUILTIN_NAMES.values()}:
        raise Conflict(f"'{body.name}' is a built-in role")
    role = CustomRole(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name=body.name,
        description=body.description,
        cluster_permissions=[],
        project_permissions=[],
    )
    session.add(role)
    await _flush_unique(session, body.name)
    return _render(role)


@router.get("/customRole/{role_id}", response_model=CustomRoleOut)
async def get_custom_role(organization_id: uuid.UUID, role_id: uuid.UUID, session: SessionDep) -> CustomRoleOut:
    return _render(await _one(session, organization_id, role_id))


@router.put("/customRole/{role_id}", response_model=CustomRoleOut)
async def edit_custom_role(
    organization_id: uuid.UUID, role_id: uuid.UUID, body: CustomRoleUpdateRequest, session: SessionDep
) -> CustomRoleOut:
    role = await _one(session, organization_id, role_id)
    role.name = body.name
    role.description = body.description
    role.cluster_permissions = [g.model_dump(mode="json") for g in body.cluster_permissions]
    role.project_permissions = [g.model_dump(mode="json") for g in body.project_permissions]
    role.updated_at = utcnow()
    await _flush_unique(session, body.name)
    return _render(role)


@router.delete("/customRole/{role_id}", status_code=204)
async def delete_custom_role(organization_id: uuid.UUID, role_id: uuid.UUID, session: SessionDep) -> Response:
    role = await _one(session, organization_id, role_id)
    for model in (Membership, Invitation):
        used = (
            await session.execute(select(func.count()).select_from(model).where(model.role_id == role_id))
        ).scalar_one()
        if used:
            raise Conflict(f"the role is still assigned ({used} {model.__tablename__}); reassign them first")
    tokens = (
        await session.execute(
            select(func.count()).select_from(ApiToken).where(ApiToken.role_id == role_id, ApiToken.revoked_at.is_(None))
        )
    ).scalar_one()
    if tokens:
        raise Conflict(f"the role is still used by {tokens} API token(s); delete them first")
    await session.delete(role)
    return Response(status_code=204)
