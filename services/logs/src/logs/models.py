"""ORM models of the logs schema (deployment log lines, cursors)."""

from slipway.db import make_base
from slipway.events import event_tables

SCHEMA = "logs"
Base = make_base(SCHEMA)
outbox, processed_messages = event_tables(Base.metadata)
