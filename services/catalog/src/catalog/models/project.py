"""Projects, their environments, each environment's deployment stages, and the services they hold."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, false, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Environment(Base):
    __tablename__ = "environments"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    cluster_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clusters.id"))
    name: Mapped[str] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(16))  # EnvironmentModeEnum
    last_updated_by: Mapped[uuid.UUID | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# names are case-insensitive (Qovery): unique on lower(name) within the parent
Index("uq_projects_name", Project.organization_id, func.lower(Project.name), unique=True)
Index("uq_environments_name", Environment.project_id, func.lower(Environment.name), unique=True)


class DeploymentStage(Base):
    __tablename__ = "deployment_stages"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    environment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    deployment_order: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeploymentRule(Base):
    """An environment's deployment rule: preview behaviour and the auto start/stop schedule."""

    __tablename__ = "deployment_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    environment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), unique=True)
    auto_preview: Mapped[bool] = mapped_column(default=False)
    on_demand_preview: Mapped[bool] = mapped_column(default=False)
    auto_stop: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    start_time: Mapped[str] = mapped_column(String(8), default="08:00")  # HH:MM in `timezone`
    stop_time: Mapped[str] = mapped_column(String(8), default="19:00")
    weekdays: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # the auto start/stop schedule's last look: a start or stop time passed since then fires (once)
    schedule_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Service(Base):
    """A service of an environment (Qovery's containers for now); `config` holds its validated Qovery fields."""

    __tablename__ = "services"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # APPLICATION | CONTAINER | DATABASE | JOB | HELM
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    deployment_stage_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployment_stages.id", ondelete="SET NULL")
    )
    is_skipped: Mapped[bool] = mapped_column(default=False, server_default=false())
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# service names are case-insensitive and unique within their environment, whatever their kind
Index("uq_services_name", Service.environment_id, func.lower(Service.name), unique=True)
# a generated public host belongs to one service in the whole installation (every organization shares the edge)
Index("uq_services_host_slug", Service.config["host_slug"].astext, unique=True)
