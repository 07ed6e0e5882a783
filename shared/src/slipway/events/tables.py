"""Outbox and processed-message tables, created in each service's own schema."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, MetaData, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID


def event_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Return (outbox, processed_messages) bound to `metadata` (and so to its schema)."""
    key = f"{metadata.schema}.outbox"
    if key in metadata.tables:
        return metadata.tables[key], metadata.tables[f"{metadata.schema}.processed_messages"]
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("subject", String(255), nullable=False),
        Column("data", Text, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )
    processed = Table(
        "processed_messages",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("message_id", String(128), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return outbox, processed
