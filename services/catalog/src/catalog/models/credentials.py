"""Credentials an organization keeps in the catalog (Git tokens, Git webhook secrets), encrypted at rest, and the
webhook deliveries it accepted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class GitToken(Base):
    """A Git provider token (Qovery's GitTokenRequest/GitTokenResponse); the token itself is write-only."""

    __tablename__ = "git_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))  # GitProviderEnum: BITBUCKET | GITHUB | GITLAB
    token_encrypted: Mapped[str] = mapped_column(Text)  # slipway.crypto ciphertext, bound to this row's id
    workspace: Mapped[str | None] = mapped_column(String(255))  # Bitbucket only
    git_api_url: Mapped[str | None] = mapped_column(String(2048))  # self-hosted provider; None: the public one
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


Index("uq_git_tokens_name", GitToken.organization_id, func.lower(GitToken.name), unique=True)


class GitWebhookSecret(Base):
    """The secret a Git provider signs an organization's webhook deliveries with (one per provider)."""

    __tablename__ = "git_webhook_secrets"
    __table_args__ = (UniqueConstraint("organization_id", "provider", name="uq_git_webhook_secrets"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))  # GITHUB | GITLAB | BITBUCKET
    secret_encrypted: Mapped[str] = mapped_column(Text)  # bound to the organization and provider
    rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """An accepted (signed) delivery: its id makes a replay a no-op; `outcome` says what it deployed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("organization_id", "provider", "delivery_id", name="uq_webhook_deliveries"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
