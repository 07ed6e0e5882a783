"""Every SQL statement on builds."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import SUCCEEDED, UNFINISHED, Build


async def get(session: AsyncSession, build_id: uuid.UUID, *, lock: bool = False) -> Build | None:
    query = select(Build).where(Build.id == build_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def for_deployment(session: AsyncSession, deployment_id: str, service_id: str) -> Build | None:
    query = select(Build).where(Build.deployment_id == deployment_id, Build.service_id == service_id)
    return (await session.execute(query)).scalar_one_or_none()


async def last_success(session: AsyncSession, source_key: str, image_repository: str) -> Build | None:
    """The latest SUCCEEDED build of the same source (same key) into the same repository."""
    query = (
        select(Build)
        .where(Build.source_key == source_key, Build.status == SUCCEEDED, Build.image_repository == image_repository)
        .order_by(Build.finished_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def set_fields(session: AsyncSession, build_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(Build).where(Build.id == build_id).values(**values))


async def unfinished(session: AsyncSession) -> list[Build]:
    query = select(Build).where(Build.status.in_(UNFINISHED)).with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())
