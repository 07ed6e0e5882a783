"""ORM models of the deployer schema (deployments, history, leases)."""

from sqlalchemy.orm import DeclarativeBase

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "deployer"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)
