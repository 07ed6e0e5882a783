"""ORM models of the builder schema (builds)."""

from slipway.db import make_base
from slipway.events import event_tables

SCHEMA = "builder"
Base = make_base(SCHEMA)
outbox, processed_messages = event_tables(Base.metadata)
