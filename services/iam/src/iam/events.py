"""Publishing iam's facts through its outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from iam.models import outbox
from slipway.events import Envelope, add_event


async def emit(
    session: AsyncSession,
    subject: str,
    payload: dict[str, Any],
    resource_id: uuid.UUID,
    organization_id: uuid.UUID | None = None,
) -> None:
    await add_event(
        session,
        outbox,
        Envelope(
            type=subject, source="iam", resource_id=str(resource_id), organization_id=organization_id, payload=payload
        ),
    )
