"""ORM models of the catalog schema (clusters, registries, projects, environments, services, variables)."""

from slipway.db import make_base
from slipway.events import event_tables

SCHEMA = "catalog"
Base = make_base(SCHEMA)
outbox, processed_messages = event_tables(Base.metadata)
