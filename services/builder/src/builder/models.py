"""ORM models of the builder schema (builds, image sweeps)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "builder"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)

# statuses; QUEUED and RUNNING are the unfinished ones
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED"
UNFINISHED = (QUEUED, RUNNING)


class Build(Base):
    """One build of one service for one deployment execution; never holds a secret (no token, no build arg)."""

    __tablename__ = "builds"
    __table_args__ = (UniqueConstraint("deployment_id", "service_id", name="uq_builds_deployment_service"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    deployment_id: Mapped[str] = mapped_column(String(255))
    organization_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    environment_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    service_name: Mapped[str] = mapped_column(String(255))
    stage_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(2048))  # Git URL without any user info
    requested_ref: Mapped[str | None] = mapped_column(String(255))  # commit or branch asked for
    root_path: Mapped[str] = mapped_column(String(1024))
    dockerfile_path: Mapped[str] = mapped_column(String(1024))
    image_repository: Mapped[str] = mapped_column(String(512))
    registry_id: Mapped[str | None] = mapped_column(String(64))
    # keyed hash of (repository, commit, root, dockerfile, build args): finds an earlier identical build
    # without cloning; keyed so that it reveals nothing about build-arg values
    source_key: Mapped[str | None] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(String(1024))  # what to deploy (the registry's name when pushed)
    local_image: Mapped[str | None] = mapped_column(String(1024))  # the name on the build engine
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)  # masked
    failing_step: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


Index("ix_builds_source_key", Build.source_key, postgresql_where=Build.status == SUCCEEDED)
Index("ix_builds_unfinished", Build.status, postgresql_where=Build.status.in_(UNFINISHED))


class ImageSweep(Base):
    """A deleted service whose images are still to be removed from the build engine (kept until none is left)."""

    __tablename__ = "image_sweeps"

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # why an image stayed (e.g. a container still uses it)
