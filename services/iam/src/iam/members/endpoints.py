"""Qovery's member and invitation routes."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, EmailStr
from sqlalchemy.ext.asyncio import AsyncSession

from iam.access import role_name
from iam.members import service
from iam.models import Invitation, Organization, User
from iam.roles import policy
from slipway.db import SessionDep
from slipway.errors import BadRequest, NotFound, Unauthorized
from slipway.principal import PrincipalDep
from slipway.timeutil import rfc3339, utcnow

router = APIRouter(prefix="/organization/{organization_id}")
LegacyRole = Literal["ADMIN", "DEVELOPER", "OWNER", "VIEWER"]


class Member(BaseModel):
    id: str
    created_at: str
    name: str
    nickname: str
    email: str
    last_activity_at: str | None = None
    role: str
    role_name: str
    role_id: str


class MemberList(BaseModel):
    results: list[Member]


class MemberRoleUpdateRequest(BaseModel):
    user_id: uuid.UUID
    role_id: uuid.UUID


class DeleteMemberRequest(BaseModel):
    user_id: uuid.UUID


class InviteMemberRequest(BaseModel):
    email: EmailStr
    role: LegacyRole | None = None
    role_id: uuid.UUID | None = None


class InviteMember(BaseModel):
    id: str
    created_at: str
    email: str
    role: str
    invitation_link: str
    invitation_status: Literal["EXPIRED", "PENDING"]
    organization_name: str
    inviter: str
    role_id: str
    role_name: str


class InviteMemberList(BaseModel):
    results: list[InviteMember]


def _legacy(role_id: uuid.UUID) -> str:
    return policy.LEGACY_ROLE.get(role_id, "VIEWER")


@router.get("/member", response_model=MemberList, response_model_exclude_none=True)
async def list_members(organization_id: uuid.UUID, session: SessionDep) -> MemberList:
    results = []
    for membership, user in await service.members(session, organization_id):
        results.append(
            Member(
                id=str(user.id),
                created_at=rfc3339(membership.created_at),
                name=" ".join(filter(None, [user.first_name, user.last_name])) or user.email,
                nickname=user.nickname or user.email.split("@")[0],
                email=user.email,
                last_activity_at=rfc3339(user.last_activity_at) if user.last_activity_at else None,
                role=_legacy(membership.role_id),
                role_name=await role_name(session, membership.role_id),
                role_id=str(membership.role_id),
            )
        )
    return MemberList(results=results)


@router.put("/member", status_code=200)
async def edit_member_role(
    organization_id: uuid.UUID, body: MemberRoleUpdateRequest, principal: PrincipalDep, session: SessionDep
) -> Response:
    await service.edit_role(session, principal, organization_id, body.user_id, body.role_id)
    return Response(status_code=200)


@router.delete("/member", status_code=204)
async def delete_member(
    organization_id: uuid.UUID, body: DeleteMemberRequest, principal: PrincipalDep, session: SessionDep
) -> Response:
    await service.remove(session, principal, organization_id, body.user_id)
    return Response(status_code=204)


async def _render_invite(session: AsyncSession, request: Request, inv: Invitation, secret: str | None) -> InviteMember:
    org = await session.get(Organization, inv.organization_id)
    inviter = await session.get(User, inv.inviter_id)
    base = request.app.state.settings.public_url.rstrip("/")
    link = (
        f"{base}/auth/signup?invitation={secret}"
        if secret
        else f"{base}/organization/{inv.organization_id}/inviteMember/{inv.id}"
    )
    return InviteMember(
        id=str(inv.id),
        created_at=rfc3339(inv.created_at),
        email=inv.email,
        role=_legacy(inv.role_id),
        invitation_link=link,
        invitation_status="PENDING" if inv.expires_at > utcnow() else "EXPIRED",
        organization_name=org.name if org else "",
        inviter=inviter.email if inviter else "",
        role_id=str(inv.role_id),
        role_name=await role_name(session, inv.role_id),
    )


@router.get("/inviteMember", response_model=InviteMemberList, response_model_exclude_none=True)
async def list_invitations(organization_id: uuid.UUID, request: Request, session: SessionDep) -> InviteMemberList:
    return InviteMemberList(
        results=[
            await _render_invite(session, request, inv, None)
            for inv in await service.invitations(session, organization_id)
        ]
    )


@router.post("/inviteMember", status_code=201, response_model=InviteMember, response_model_exclude_none=True)
async def invite_member(
    organization_id: uuid.UUID,
    body: InviteMemberRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> InviteMember:
    role_id = body.role_id or (policy.LEGACY_TO_ID[body.role] if body.role else None)
    if role_id is None:
        raise BadRequest("role_id: required (or the deprecated role)")
    if principal.user_id is None:
        raise Unauthorized("an account is required to invite")
    ttl = request.app.state.settings.invitation_ttl_days
    inv, secret = await service.invite(session, principal, organization_id, str(body.email), role_id, ttl)
    return await _render_invite(session, request, inv, secret)


@router.get("/inviteMember/{invite_id}", response_model=InviteMember, response_model_exclude_none=True)
async def get_invitation(
    organization_id: uuid.UUID, invite_id: uuid.UUID, request: Request, session: SessionDep
) -> InviteMember:
    return await _render_invite(session, request, await service.invitation(session, organization_id, invite_id), None)


@router.post(
    "/inviteMember/{invite_id}", status_code=201, response_model=InviteMember, response_model_exclude_none=True
)
async def accept_invitation(
    organization_id: uuid.UUID, invite_id: uuid.UUID, request: Request, principal: PrincipalDep, session: SessionDep
) -> InviteMember:
    """Accepted by the invited account itself (it is not a member yet)."""
    user = await session.get(User, principal.user_id) if principal.user_id and principal.kind == "user" else None
    if user is None:
        raise NotFound("invitation not found")
    inv = await service.invitation(session, organization_id, invite_id)
    await service.accept_invitation(session, inv, user)
    return await _render_invite(session, request, inv, None)


@router.delete("/inviteMember/{invite_id}", status_code=204)
async def delete_invitation(organization_id: uuid.UUID, invite_id: uuid.UUID, session: SessionDep) -> Response:
    await session.delete(await service.invitation(session, organization_id, invite_id))
    return Response(status_code=204)
