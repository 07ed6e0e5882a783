"""Organization rules: the creator becomes Owner in the same transaction; events tell catalog."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from iam.events import emit
from iam.models import ApiToken, Membership, Organization
from iam.organization.schemas import Organization as OrganizationOut
from iam.organization.schemas import OrganizationEditRequest, OrganizationPlan, OrganizationRequest
from iam.roles import policy
from slipway.contracts import OrganizationCreated, OrganizationDeleted, OrganizationUpdated, Subjects
from slipway.errors import Conflict, Forbidden, NotFound
from slipway.principal import Principal
from slipway.timeutil import rfc3339, utcnow


def render(org: Organization, retention_days: int | None = None) -> OrganizationOut:
    return OrganizationOut(
        id=str(org.id),
        created_at=rfc3339(org.created_at),
        updated_at=rfc3339(org.updated_at or org.created_at),
        name=org.name,
        description=org.description,
        plan=org.plan,
        website_url=org.website_url,
        repository=org.repository,
        logo_url=org.logo_url,
        icon_url=org.icon_url,
        admin_emails=org.admin_emails,
        owner=str(org.owner_id),
        organization_plan=OrganizationPlan(plan=org.plan, audit_logs_retention_in_days=retention_days),
    )


async def visible(session: AsyncSession, principal: Principal) -> list[Organization]:
    """Only the caller's organizations: its memberships, or the one its API token is bound to."""
    if principal.kind == "api_token" and principal.organization_id is not None:
        org = await session.get(Organization, principal.organization_id)
        return [org] if org else []
    if principal.user_id is None:
        return []
    rows = await session.execute(
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == principal.user_id)
        .order_by(Organization.created_at)
    )
    return list(rows.scalars())


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization not found")
    return org


async def _name_taken(session: AsyncSession, principal: Principal, name: str, exclude: uuid.UUID | None) -> bool:
    for org in await visible(session, principal):
        if org.id != exclude and org.name.lower() == name.lower():
            return True
    return False


async def create(session: AsyncSession, principal: Principal, body: OrganizationRequest) -> Organization:
    if principal.user_id is None or (principal.kind == "api_token" and principal.organization_id is not None):
        raise Forbidden("an organization API token cannot create organizations")
    if await _name_taken(session, principal, body.name, None):
        raise Conflict(f"name '{body.name}' is already taken by one of your organizations")
    org = Organization(id=uuid.uuid4(), owner_id=principal.user_id, **body.model_dump())
    session.add(org)
    await session.flush()
    session.add(Membership(organization_id=org.id, user_id=principal.user_id, role_id=policy.OWNER))
    await session.flush()
    event = OrganizationCreated(organization_id=org.id, name=org.name, owner_id=principal.user_id)
    await emit(session, Subjects.ORGANIZATION_CREATED, event.model_dump(mode="json"), org.id, org.id)
    return org


async def edit(session: AsyncSession, principal: Principal, org: Organization, body: OrganizationEditRequest) -> None:
    if await _name_taken(session, principal, body.name, org.id):
        raise Conflict(f"name '{body.name}' is already taken by one of your organizations")
    for key, value in body.model_dump(exclude_unset=True, exclude={"plan"}).items():
        setattr(org, key, value)
    if body.plan is not None:
        org.plan = body.plan
    org.updated_at = utcnow()
    await session.flush()
    event = OrganizationUpdated(organization_id=org.id, name=org.name)
    await emit(session, Subjects.ORGANIZATION_UPDATED, event.model_dump(mode="json"), org.id, org.id)


async def delete(session: AsyncSession, org: Organization) -> None:
    # Tokens bound to the organization die with it; memberships, roles, invitations cascade.
    tokens = await session.execute(select(ApiToken).where(ApiToken.organization_id == org.id))
    for token in tokens.scalars():
        await session.delete(token)
    await session.delete(org)
    await session.flush()
    event = OrganizationDeleted(organization_id=org.id)
    await emit(session, Subjects.ORGANIZATION_DELETED, event.model_dump(mode="json"), org.id, org.id)


async def member_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).select_from(Membership).where(Membership.organization_id == organization_id)
            )
        ).scalar_one()
    )
