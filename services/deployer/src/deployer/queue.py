"""Queuing an action: one numbered deployment request per environment, never two identical ones waiting."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from deployer.models import Deployment
from deployer.states import QUEUED
from slipway.errors import Conflict

QUEUED_STATE = QUEUED


async def lock_environment(session: AsyncSession, environment_id: uuid.UUID) -> None:
    """Serialise the environment's queue writes (numbering, duplicate checks) until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"deployer:{environment_id}"})


async def enqueue(
    session: AsyncSession,
    scope: dict[str, Any],
    action: str,
    service_ids: list[str] | None,
    *,
    versions: dict[str, Any] | None = None,
    origin: str = "API",
    triggered_by: str | None = None,
    tombstone_id: uuid.UUID | None = None,
    not_before: datetime | None = None,
    force_event: str | None = None,
) -> Deployment:
    environment_id = uuid.UUID(scope["environment_id"])
    await lock_environment(session, environment_id)
    targets = sorted(service_ids) if service_ids is not None else None
    waiting = await session.scalars(
        select(Deployment).where(Deployment.environment_id == environment_id, Deployment.phase == "QUEUED")
    )
    for other in waiting:
        same_targets = (sorted(other.service_ids) if other.service_ids is not None else None) == targets
        same_versions = (other.versions or {}) == (versions or {}) and other.tombstone_id == tombstone_id
        same_versions = same_versions and other.force_event == force_event
        if other.action == action and same_targets and same_versions:
            raise Conflict(
                f"an identical {action.lower()} request is already queued for this environment "
                f"(execution {other.execution_id})"
            )
    number = (
        int(
            await session.scalar(
                select(func.coalesce(func.max(Deployment.number), 0)).where(Deployment.environment_id == environment_id)
            )
            or 0
        )
        + 1
    )
    dep = Deployment(
        id=uuid.uuid4(),
        organization_id=uuid.UUID(scope["organization_id"]),
        project_id=uuid.UUID(scope["project_id"]),
        environment_id=environment_id,
        number=number,
        action=action,
        phase="QUEUED",
        status=QUEUED_STATE[action],
        service_ids=targets,
        versions=versions or {},
        origin=origin if origin in ORIGINS else "API",
        triggered_by=triggered_by,
        tombstone_id=tombstone_id,
        not_before=not_before,
        force_event=force_event,
    )
    session.add(dep)
    await session.flush()
    await session.refresh(dep, ["created_at"])
    return dep


ORIGINS = {"API", "CLI", "CONSOLE", "GIT", "QOVERY_INTERNAL", "SKILL", "TERRAFORM_PROVIDER"}


async def running(session: AsyncSession, environment_id: uuid.UUID) -> Deployment | None:
    return await session.scalar(
        select(Deployment).where(Deployment.environment_id == environment_id, Deployment.phase == "RUNNING").limit(1)
    )
