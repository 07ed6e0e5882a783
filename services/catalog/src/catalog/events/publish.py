"""Publishing catalog's facts through its outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import outbox
from slipway.events import Envelope, add_event


async def emit(
    session: AsyncSession, subject: str, organization_id: uuid.UUID, resource_id: uuid.UUID, payload: dict[str, Any]
) -> None:
    envelope = Envelope(
        type=subject, source="catalog", organization_id=organization_id, resource_id=str(resource_id), payload=payload
    )
    await add_event(session, outbox, envelope)
