"""ORM models of the logs schema (deployment log lines, cursors)."""

from sqlalchemy.orm import DeclarativeBase

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "logs"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)
