"""The catalog schema's declarative base and its event tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "catalog"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)
