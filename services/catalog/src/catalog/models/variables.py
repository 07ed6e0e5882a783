"""Variables and secrets of every scope (unified /variable API), jobs' outputs, and services' custom domains."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, false, func
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class Variable(Base):
    """One variable at PROJECT, ENVIRONMENT or a service scope; built-ins are computed, never stored.

    `parent_id` is the project, environment or service id the variable belongs to (its scope's
    resource). Secrets keep their value only in `value_encrypted` (slipway.crypto); plain values in
    `value`. ALIAS and OVERRIDE rows point at their target with `target_id` (a stored variable or a
    built-in's stable id) and `target_key`; deleting a variable deletes the aliases and overrides
    pointing at it (in code, since built-in targets have no row).
    """

    __tablename__ = "variables"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))  # APIVariableScopeEnum except BUILT_IN
    parent_id: Mapped[uuid.UUID] = mapped_column()
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(Text)  # plain values only
    value_encrypted: Mapped[str | None] = mapped_column(Text)  # secrets only
    is_secret: Mapped[bool] = mapped_column(default=False, server_default=false())
    variable_type: Mapped[str] = mapped_column(String(16))  # VALUE | ALIAS | OVERRIDE | FILE
    mount_path: Mapped[str | None] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(Text)
    enable_interpolation_in_file: Mapped[bool] = mapped_column(default=False, server_default=false())
    target_id: Mapped[uuid.UUID | None] = mapped_column()  # ALIAS / OVERRIDE: the variable pointed at
    target_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# a key is unique within its scope's resource (case-sensitive, as environment variables are)
Index("uq_variables_key", Variable.parent_id, Variable.key, unique=True)
Index("ix_variables_target", Variable.target_id)
Index("ix_variables_environment", Variable.environment_id)


class JobOutput(Base):
    """One value a job's last successful run wrote to /qovery-output/qovery-output.json: every service of the
    environment sees it as the built-in `QOVERY_OUTPUT_JOB_Z<short id>_<KEY>` (sensitive ones as secrets, kept only
    encrypted). A run replaces the job's outputs; they go with the job."""

    __tablename__ = "job_outputs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    environment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    value: Mapped[str | None] = mapped_column(Text)  # not sensitive
    value_encrypted: Mapped[str | None] = mapped_column(Text)  # sensitive
    sensitive: Mapped[bool] = mapped_column(default=False)
    execution_id: Mapped[str] = mapped_column(String(160))  # the run that wrote it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Index("ix_job_outputs_environment", JobOutput.environment_id)
Index("uq_job_outputs_key", JobOutput.job_id, JobOutput.key, unique=True)


class CustomDomain(Base):
    __tablename__ = "custom_domains"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    generate_certificate: Mapped[bool] = mapped_column(default=True)
    use_cdn: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# a domain routes to one service in the whole installation (the edge proxy is shared)
Index("uq_custom_domains_domain", func.lower(CustomDomain.domain), unique=True)
