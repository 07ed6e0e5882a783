"""Publishing catalog's facts through its outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Service, outbox
from slipway.contracts import Subjects
from slipway.events import Envelope, add_event


async def emit(
    session: AsyncSession, subject: str, organization_id: uuid.UUID, resource_id: uuid.UUID, payload: dict[str, Any]
) -> None:
    envelope = Envelope(
        type=subject, source="catalog", organization_id=organization_id, resource_id=str(resource_id), payload=payload
    )
    await add_event(session, outbox, envelope)


async def emit_service(session: AsyncSession, subject: str, service: Service) -> None:
    """A service fact: ids and kind only, never its configuration (it may hold secrets)."""
    payload = {"service_id": str(service.id), "environment_id": str(service.environment_id), "kind": service.kind}
    await emit(session, subject, service.organization_id, service.id, payload)


async def emit_services_deleted(session: AsyncSession, environment_id: uuid.UUID) -> None:
    """Before an environment's rows cascade away, tell the deployer about each of its services."""
    rows = await session.execute(select(Service).where(Service.environment_id == environment_id))
    for service in rows.scalars():
        await emit_service(session, Subjects.SERVICE_DELETED, service)
