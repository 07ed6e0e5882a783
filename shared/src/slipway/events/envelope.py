"""The one versioned envelope every NATS message carries (ARCHITECTURE §3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from slipway.timeutil import utcnow


class Envelope(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str  # also the NATS subject, e.g. "evt.iam.organization.created"
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    source: str
    organization_id: uuid.UUID | None = None
    resource_id: str | None = None
    causation_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.type

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.model_validate_json(data)

    def caused(self, type: str, source: str, **fields: Any) -> Envelope:
        """A follow-up event keeping this one's correlation and naming it as the cause."""
        return Envelope(
            type=type,
            source=source,
            organization_id=fields.pop("organization_id", self.organization_id),
            causation_id=self.id,
            correlation_id=self.correlation_id or self.id,
            **fields,
        )
