"""Internal: authorization decisions and audit writes (from the gateway). Public: the audit log query."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from iam.access import decide
from iam.models import AuditEntry
from iam.roles import policy
from slipway.db import SessionDep
from slipway.errors import BadRequest
from slipway.principal import PrincipalDep
from slipway.timeutil import rfc3339

router = APIRouter()


class AuthorizeRequest(BaseModel):
    action: str
    organization_id: uuid.UUID
    cluster_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    environment_mode: Literal["DEVELOPMENT", "PREVIEW", "PRODUCTION", "STAGING"] | None = None


class Decision(BaseModel):
    decision: Literal["allow", "forbidden", "not_found"]


@router.post("/internal/authorize", response_model=Decision, include_in_schema=False)
async def authorize(body: AuthorizeRequest, principal: PrincipalDep, session: SessionDep) -> Decision:
    """Decide for the principal in the signed header (the gateway forwards the caller's)."""
    if body.action not in policy.ACTIONS:
        raise BadRequest(f"action: unknown action '{body.action}'")
    scope = policy.Scope(body.organization_id, body.cluster_id, body.project_id, body.environment_mode)
    return Decision(decision=await decide(session, principal, body.action, scope))  # type: ignore[arg-type]


class AuditRequest(BaseModel):
    organization_id: uuid.UUID | None = None
    action: str = Field(max_length=64)
    method: str = Field(max_length=8)
    path: str = Field(max_length=2048)
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=64)
    origin: str = Field(max_length=32)
    status_code: int


@router.post("/internal/audit", status_code=204, include_in_schema=False)
async def record(body: AuditRequest, principal: PrincipalDep, session: SessionDep) -> None:
    if body.status_code < 400:
        result = "SUCCESS"
    elif body.status_code in (401, 403, 404):
        result = "DENIED"
    else:
        result = "FAILURE"
    session.add(
        AuditEntry(
            id=uuid.uuid4(),
            actor_kind=principal.kind,
            actor_id=principal.subject,
            user_id=principal.user_id,
            result=result,
            **body.model_dump(),
        )
    )


class AuditEntryOut(BaseModel):
    id: str
    occurred_at: str
    actor_kind: str
    actor_id: str
    user_id: str | None
    action: str
    method: str
    path: str
    resource_type: str | None
    resource_id: str | None
    origin: str
    status_code: int
    result: str


class AuditList(BaseModel):
    results: list[AuditEntryOut]


@router.get("/slipway/organization/{organization_id}/auditLog", response_model=AuditList)
async def audit_log(
    organization_id: uuid.UUID,
    session: SessionDep,
    limit: int = Query(default=100, ge=1, le=1000),
    before: datetime | None = None,
    action: str | None = None,
) -> AuditList:
    """Newest first; page with `before=<occurred_at of the last entry>`."""
    stmt = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if before is not None:
        stmt = stmt.where(AuditEntry.occurred_at < before)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    rows = (await session.execute(stmt.order_by(AuditEntry.occurred_at.desc()).limit(limit))).scalars()
    return AuditList(
        results=[
            AuditEntryOut(
                id=str(e.id),
                occurred_at=rfc3339(e.occurred_at),
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                user_id=str(e.user_id) if e.user_id else None,
                action=e.action,
                method=e.method,
                path=e.path,
                resource_type=e.resource_type,
                resource_id=e.resource_id,
                origin=e.origin,
                status_code=e.status_code,
                result=e.result,
            )
            for e in rows
        ]
    )
