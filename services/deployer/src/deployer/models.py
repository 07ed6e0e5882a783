"""ORM models of the deployer schema: deployment requests (the per-environment queue and history), each
service's part in them, and each service's current deployment state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, false, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slipway.db import service_metadata
from slipway.events import event_tables

SCHEMA = "deployer"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


outbox, processed_messages = event_tables(Base.metadata)


class Deployment(Base):
    """One action on an environment (Qovery's deployment request / execution), queued per environment.

    `status` is the environment-level StateEnum; `lease_owner`/`lease_expires_at` mark the deployer
    process running it: a RUNNING deployment whose lease expired is taken over and run again (every
    step is idempotent: unchanged services are left alone), so none stays DEPLOYING after a crash.
    """

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("environment_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)  # deployment_request_id
    organization_id: Mapped[uuid.UUID] = mapped_column()
    project_id: Mapped[uuid.UUID] = mapped_column()
    environment_id: Mapped[uuid.UUID] = mapped_column()
    number: Mapped[int] = mapped_column()  # execution_id = f"{environment_id}-{number}"
    action: Mapped[str] = mapped_column(String(16))  # DEPLOY | STOP | RESTART | DELETE
    phase: Mapped[str] = mapped_column(String(16), default="QUEUED")  # QUEUED | RUNNING | DONE
    status: Mapped[str] = mapped_column(String(32))  # StateEnum of the environment for this action
    # services this action targets (all of the environment's when None) and requested versions
    service_ids: Mapped[list[str] | None] = mapped_column(JSONB)
    versions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # service id → {git_commit_id|image_tag}
    origin: Mapped[str] = mapped_column(String(32), default="API")
    triggered_by: Mapped[str | None] = mapped_column(String(255))
    desired_version: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # the uninstall of a deleted environment or service: catalog's tombstone holds what ran there
    tombstone_id: Mapped[uuid.UUID | None] = mapped_column()
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a retry waits until then
    # a job's deployment that runs this event of it now (forceEvent: START, STOP, DELETE, CRON)
    force_event: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def execution_id(self) -> str:
        return f"{self.environment_id}-{self.number}"


Index("ix_deployments_queue", Deployment.phase, Deployment.environment_id, Deployment.number)
# at most one waiting or running uninstall per deletion (a failed one is retried by a new deployment)
Index(
    "uq_deployments_tombstone",
    Deployment.tombstone_id,
    unique=True,
    postgresql_where=(Deployment.tombstone_id.is_not(None)) & (Deployment.phase != "DONE"),
)


class DeploymentService(Base):
    """A service's part in one deployment: its state walk, the version it got, timings, error."""

    __tablename__ = "deployment_services"

    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    stage_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))  # StateEnum
    git_commit_id: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(String(1024))
    image_tag: Mapped[str | None] = mapped_column(String(255))
    spec_version: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceState(Base):
    """The current deployment state of a service (what `…/status` answers)."""

    __tablename__ = "service_states"

    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    environment_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))  # StateEnum
    action: Mapped[str] = mapped_column(String(16), default="DEPLOY")  # ServiceActionEnum
    action_status: Mapped[str] = mapped_column(String(16), default="NEVER")  # ServiceActionStatusEnum
    last_deployment_id: Mapped[uuid.UUID | None] = mapped_column()
    last_deployment_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deployed_spec_version: Mapped[str | None] = mapped_column(String(64))
    deployed_commit: Mapped[str | None] = mapped_column(String(64))
    deployed_image: Mapped[str | None] = mapped_column(String(1024))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CronSchedule(Base):
    """A deployed CRON job's schedule: what to run (the image of the deployment that scheduled it), when it
    fires next, and its last run. `running` holds the id of the run in progress (concurrency policy Forbid)."""

    __tablename__ = "cron_schedules"

    service_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column()
    project_id: Mapped[uuid.UUID] = mapped_column()
    environment_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(255))
    cron: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64))
    image: Mapped[str] = mapped_column(String(1024))
    execution_id: Mapped[str] = mapped_column(String(128))  # the deployment that scheduled it
    next_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(16))  # RUNNING | SUCCEEDED | FAILED
    running: Mapped[str | None] = mapped_column(String(160))  # run id while a run is in progress
    run_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Index("ix_cron_schedules_due", CronSchedule.next_run_at)
