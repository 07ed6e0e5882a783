"""ORM models of the catalog schema (clusters, registries, projects, environments, services, variables)."""

from sqlalchemy.orm import DeclarativeBase

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "catalog"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)
