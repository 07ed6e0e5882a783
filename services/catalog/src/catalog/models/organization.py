"""Organizations (projection of iam's) and what hangs directly off them: clusters and registries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, false, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class Organization(Base):
    """Projection of iam's organizations (iam is the source of truth)."""

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Cluster(Base):
    __tablename__ = "clusters"
    __table_args__ = (
        Index("uq_clusters_default", "organization_id", unique=True, postgresql_where=text("is_default")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(64))
    cloud_provider: Mapped[str] = mapped_column(String(32))  # CloudVendorEnum; ON_PREMISE here
    kubernetes: Mapped[str] = mapped_column(String(32))  # KubernetesEnum
    engine: Mapped[str] = mapped_column(String(32))  # Slipway: docker | podman | kubernetes
    engine_host: Mapped[str | None] = mapped_column(String(1024))  # Docker Engine API address for engine hosts
    # public hosts of this cluster's services are <host slug>.<base_domain> (Slipway extension)
    base_domain: Mapped[str] = mapped_column(String(253), default="localhost", server_default="localhost")
    is_default: Mapped[bool] = mapped_column(default=False)
    production: Mapped[bool] = mapped_column(default=False, server_default=false())
    # slipway.crypto ciphertext of the kubeconfig YAML (kubernetes clusters); never returned but by its own route
    kubeconfig_encrypted: Mapped[str | None] = mapped_column(Text)
    # Qovery's advanced settings (and Slipway's `slipway.*` ones): only those that differ from the defaults
    # (catalog.cluster.schemas.CLUSTER_ADVANCED_SETTINGS); {} = every default
    advanced_settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContainerRegistry(Base):
    __tablename__ = "container_registries"
    __table_args__ = (
        Index("uq_registries_default", "organization_id", unique=True, postgresql_where=text("is_default")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # ContainerRegistryKindEnum
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048))
    is_default: Mapped[bool] = mapped_column(default=False)
    # slipway.crypto ciphertext of the whole `config` object as JSON (usernames, passwords, keys…);
    # responses show only its non-secret fields
    config_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# names are case-insensitive (Qovery): unique on lower(name) within the organization
Index("uq_clusters_name", Cluster.organization_id, func.lower(Cluster.name), unique=True)
Index(
    "uq_container_registries_name", ContainerRegistry.organization_id, func.lower(ContainerRegistry.name), unique=True
)
