"""Credentials an organization keeps in the catalog (Git tokens), encrypted at rest."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, func
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
