"""Preview environments per pull request, the repositories Git deliveries named, and reports owed to providers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class Preview(Base):
    """A pull request's preview of one blueprint environment: OPEN while the PR is, CLOSED once it closed (or its
    time ran out) until the environment is deleted, then DELETED (kept: a replayed event finds it)."""

    __tablename__ = "previews"
    __table_args__ = (UniqueConstraint("blueprint_id", "provider", "repository", "number", name="uq_previews"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    blueprint_id: Mapped[uuid.UUID] = mapped_column()  # no foreign key: a preview outlives no PR, not its blueprint
    environment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("environments.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(512))  # webhooks.providers.repository_key
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(512))
    head_branch: Mapped[str] = mapped_column(String(255))
    head_commit: Mapped[str] = mapped_column(String(64))
    base_branch: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="OPEN")  # OPEN | CLOSED | DELETED
    reason: Mapped[str | None] = mapped_column(String(255))  # why it closed
    comment_id: Mapped[str | None] = mapped_column(String(64))  # the provider's id of Slipway's PR comment
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed deletions so far
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last asked the provider


class GitRepository(Base):
    """How a provider names a repository Slipway received deliveries for (owner/name, GitLab's project id), so
    reports reach it whatever URL the services clone it by."""

    __tablename__ = "git_repositories"
    __table_args__ = (UniqueConstraint("organization_id", "provider", "repository", name="uq_git_repositories"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(512))  # repository_key of every URL the delivery named
    path: Mapped[str] = mapped_column(String(512))  # owner/name (GitHub, Bitbucket), the project's path or id (GitLab)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GitReport(Base):
    """A commit status or a PR comment owed to a provider, sent (and retried) by the reporter."""

    __tablename__ = "git_reports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # STATUS | COMMENT
    provider: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(512))
    token_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("git_tokens.id", ondelete="SET NULL"))
    preview_id: Mapped[uuid.UUID | None] = mapped_column()  # a COMMENT: the preview whose comment it writes
    body: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Index("ix_previews_state", Preview.state)
Index("ix_git_reports_due", GitReport.next_at, postgresql_where=text("sent_at IS NULL"))
