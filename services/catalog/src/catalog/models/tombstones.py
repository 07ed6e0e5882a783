"""Tombstones: the last desired state of a deleted environment or service, kept until the deployer uninstalled it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class Tombstone(Base):
    """What a deleted environment (or one deleted service of a live environment) ran, encrypted.

    `id` is the deleted environment's or service's id. No foreign keys: the rows it describes are gone.
    The deployer reads it to run the uninstall (ON_DELETE jobs first) and drops it when done.
    """

    __tablename__ = "tombstones"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column()
    environment_id: Mapped[uuid.UUID] = mapped_column()
    service_id: Mapped[uuid.UUID | None] = mapped_column()
    state_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
