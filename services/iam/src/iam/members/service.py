"""Membership rules: the owner cannot be demoted or removed; only an Owner hands out the Owner role."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from iam.access import role_exists, role_of
from iam.events import emit
from iam.models import Invitation, Membership, Organization, User
from iam.roles import policy
from slipway.contracts import MemberChanged, Subjects
from slipway.errors import BadRequest, Conflict, Forbidden, NotFound
from slipway.principal import Principal
from slipway.timeutil import utcnow


async def check_grantable(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, role_id: uuid.UUID
) -> None:
    if not await role_exists(session, organization_id, role_id):
        raise BadRequest("role_id: no such role in this organization")
    if role_id == policy.OWNER and await role_of(session, principal, organization_id) != policy.OWNER:
        raise Forbidden("only an Owner can grant the Owner role")


async def members(session: AsyncSession, organization_id: uuid.UUID) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
        .order_by(Membership.created_at)
    )
    return [(m, u) for m, u in rows.all()]


async def _membership(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    membership = await session.get(Membership, (organization_id, user_id))
    if membership is None:
        raise NotFound("member not found")
    return membership


async def edit_role(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID, role_id: uuid.UUID
) -> None:
    membership = await _membership(session, organization_id, user_id)
    org = await session.get(Organization, organization_id)
    assert org is not None
    if user_id == org.owner_id and role_id != policy.OWNER:
        raise BadRequest("the organization owner keeps the Owner role; transfer ownership first")
    if membership.role_id == policy.OWNER and await role_of(session, principal, organization_id) != policy.OWNER:
        raise Forbidden("only an Owner can change another Owner's role")
    await check_grantable(session, principal, organization_id, role_id)
    membership.role_id = role_id
    await emit(
        session,
        Subjects.MEMBER_ADDED,
        MemberChanged(organization_id=organization_id, user_id=user_id, role_id=role_id).model_dump(mode="json"),
        user_id,
        organization_id,
    )


async def remove(session: AsyncSession, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
    membership = await _membership(session, organization_id, user_id)
    org = await session.get(Organization, organization_id)
    assert org is not None
    if user_id == org.owner_id:
        raise BadRequest("the organization owner cannot be removed; transfer ownership first")
    if membership.role_id == policy.OWNER and await role_of(session, principal, organization_id) != policy.OWNER:
        raise Forbidden("only an Owner can remove another Owner")
    await session.delete(membership)
    await emit(
        session,
        Subjects.MEMBER_REMOVED,
        MemberChanged(organization_id=organization_id, user_id=user_id, role_id=None).model_dump(mode="json"),
        user_id,
        organization_id,
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def invite(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    email: str,
    role_id: uuid.UUID,
    ttl_days: int,
) -> tuple[Invitation, str]:
    email = email.lower()
    await check_grantable(session, principal, organization_id, role_id)
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    if user is not None and await session.get(Membership, (organization_id, user.id)) is not None:
        raise Conflict(f"{email} is already a member")
    pending = await session.execute(
        select(Invitation).where(
            Invitation.organization_id == organization_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    )
    if pending.first() is not None:
        raise Conflict(f"{email} already has a pending invitation")
    assert principal.user_id is not None
    secret = "inv_" + secrets.token_urlsafe(24)
    invitation = Invitation(
        id=uuid.uuid4(),
        organization_id=organization_id,
        email=email,
        role_id=role_id,
        inviter_id=principal.user_id,
        token_hash=_digest(secret),
        expires_at=utcnow() + timedelta(days=ttl_days),
    )
    session.add(invitation)
    await session.flush()
    return invitation, secret


async def invitations(session: AsyncSession, organization_id: uuid.UUID) -> list[Invitation]:
    rows = await session.execute(
        select(Invitation)
        .where(Invitation.organization_id == organization_id, Invitation.accepted_at.is_(None))
        .order_by(Invitation.created_at)
    )
    return list(rows.scalars())


async def invitation(session: AsyncSession, organization_id: uuid.UUID, invite_id: uuid.UUID) -> Invitation:
    found = await session.get(Invitation, invite_id)
    if found is None or found.organization_id != organization_id or found.accepted_at is not None:
        raise NotFound("invitation not found")
    return found


async def accept_invitation(session: AsyncSession, invitation: Invitation, user: User) -> None:
    if invitation.expires_at <= utcnow():
        raise BadRequest("the invitation has expired")
    if invitation.email != user.email:
        raise NotFound("invitation not found")  # someone else's invitation: reveal nothing
    if await session.get(Membership, (invitation.organization_id, user.id)) is None:
        session.add(Membership(organization_id=invitation.organization_id, user_id=user.id, role_id=invitation.role_id))
    invitation.accepted_at = utcnow()
    await session.flush()
    await emit(
        session,
        Subjects.MEMBER_ADDED,
        MemberChanged(
            organization_id=invitation.organization_id,
            user_id=user.id,
            role_id=invitation.role_id,
        ).model_dump(mode="json"),
        user.id,
        invitation.organization_id,
    )
