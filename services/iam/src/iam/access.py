"""Who holds which role where, and the authorization decision the gateway asks for."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from iam.models import ApiToken, CustomRole, Membership, Organization
from iam.roles import policy
from slipway.principal import Principal


async def role_of(session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> uuid.UUID | None:
    """The caller's role in the organization, or None when it has no access at all."""
    if principal.kind == "api_token" and principal.token_id is not None:
        token = await session.get(ApiToken, principal.token_id)
        if token is None or token.revoked_at is not None:
            return None
        if token.organization_id is not None:
            return token.role_id if token.organization_id == organization_id else None
    if principal.user_id is None:
        return None
    membership = await session.get(Membership, (organization_id, principal.user_id))
    return membership.role_id if membership else None


async def custom_grants(
    session: AsyncSession, organization_id: uuid.UUID, role_id: uuid.UUID
) -> policy.CustomGrants | None:
    role = (
        await session.execute(
            select(CustomRole).where(CustomRole.id == role_id, CustomRole.organization_id == organization_id)
        )
    ).scalar_one_or_none()
    if role is None:
        return None
    return policy.CustomGrants(role.cluster_permissions or [], role.project_permissions or [])


async def decide(session: AsyncSession, principal: Principal, action: str, scope: policy.Scope) -> str:
    """'allow', 'forbidden' (a member without the power) or 'not_found' (not a member: reveal nothing)."""
    if await session.get(Organization, scope.organization_id) is None:
        return "not_found"
    role_id = await role_of(session, principal, scope.organization_id)
    if role_id is None:
        return "not_found"
    custom = None if policy.is_builtin(role_id) else await custom_grants(session, scope.organization_id, role_id)
    return "allow" if policy.allowed(role_id, action, scope, custom) else "forbidden"


async def role_exists(session: AsyncSession, organization_id: uuid.UUID, role_id: uuid.UUID) -> bool:
    return policy.is_builtin(role_id) or await custom_grants(session, organization_id, role_id) is not None


async def role_name(session: AsyncSession, role_id: uuid.UUID) -> str:
    if role_id in policy.BUILTIN_NAMES:
        return policy.BUILTIN_NAMES[role_id]
    role = await session.get(CustomRole, role_id)
    return role.name if role else "unknown"
