"""ORM models of the deployer schema (deployments, history, leases)."""

from slipway.db import make_base
from slipway.events import event_tables

SCHEMA = "deployer"
Base = make_base(SCHEMA)
outbox, processed_messages = event_tables(Base.metadata)
