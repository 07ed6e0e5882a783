"""A workload's row in `services`: look-ups, creation in its default stage, edits and deletion, with their events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.events.publish import emit_service, emit_service_deleted
from catalog.models import Environment, Service
from catalog.workload.rules import default_stage, flush_name
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.errors import NotFound
from slipway.timeutil import utcnow


async def get(session: AsyncSession, service_id: uuid.UUID, kind: str) -> Service:
    found = await session.get(Service, service_id)
    if found is None or found.kind != kind:
        raise NotFound(f"{kind.lower()} not found")
    return found


async def listing(session: AsyncSession, environment_id: uuid.UUID, kind: str) -> list[Service]:
    rows = await session.execute(
        select(Service)
        .where(Service.environment_id == environment_id, Service.kind == kind)
        .order_by(Service.created_at, Service.id)
    )
    return list(rows.scalars())


async def environment_of(session: AsyncSession, svc: Service) -> Environment:
    env = await session.get(Environment, svc.environment_id)
    if env is None:
        raise NotFound(f"{svc.kind.lower()} not found")
    return env


async def create(
    session: AsyncSession,
    env: Environment,
    *,
    kind: str,
    stage: str,
    name: str,
    description: str | None,
    config: dict[str, Any],
) -> Service:
    """Attached to the kind's default stage; `host_slug` is assigned here, once for the service's life."""
    attach = await default_stage(session, env.id, stage)
    service_id = uuid.uuid4()
    svc = Service(
        id=service_id,
        organization_id=env.organization_id,
        project_id=env.project_id,
        environment_id=env.id,
        kind=kind,
        name=name,
        description=description,
        deployment_stage_id=attach.id if attach else None,
        is_skipped=False,
        config={**config, "host_slug": await hosts.assign_host_slug(session, env, name, service_id)},
    )
    session.add(svc)
    await flush_name(session, name)
    await session.refresh(svc, ["created_at"])
    await emit_service(session, Subjects.SERVICE_CREATED, svc)
    return svc


async def update(
    session: AsyncSession, svc: Service, *, name: str, config: dict[str, Any], description: str | None, sent: bool
) -> None:
    """The description changes only when the client `sent` one (possibly null); host_slug is kept for life."""
    svc.config = {**config, "host_slug": svc.config.get("host_slug")}
    svc.name = name
    if sent:
        svc.description = description
    svc.updated_at = utcnow()
    await flush_name(session, name)
    await emit_service(session, Subjects.SERVICE_UPDATED, svc)


async def delete(session: AsyncSession, svc: Service, keys: Keyring) -> None:
    await emit_service_deleted(session, svc, keys)
    await session.delete(svc)
    await session.flush()
