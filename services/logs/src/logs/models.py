"""ORM models of the logs schema (deployment log lines, cursors)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, UniqueConstraint, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "logs"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)


class DeploymentExecution(Base):
    """One deployment (execution) that produced log lines; the unit of retention per environment."""

    __tablename__ = "deployment_executions"

    execution_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    environment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    number: Mapped[int] = mapped_column(BigInteger)  # the integer after the last `-` of the id (0 if none)
    first_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_deployment_executions_recent", "environment_id", "number", "first_timestamp_ms"),)


class DeploymentLogLine(Base):
    """One masked deployment log line; (execution_id, source, seq) makes a redelivered line a no-op."""

    __tablename__ = "deployment_log_lines"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    environment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    service_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    service_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    stage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    step: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("execution_id", "source", "seq", name="uq_deployment_log_lines_line"),
        Index("ix_deployment_log_lines_order", "execution_id", "timestamp_ms", "source", "seq"),
    )
