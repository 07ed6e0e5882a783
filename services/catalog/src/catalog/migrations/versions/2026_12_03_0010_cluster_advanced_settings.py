"""cluster advanced settings

Qovery's cluster advanced settings and Slipway's `slipway.*` ones (ingress class, cert-manager cluster issuer,
StorageClass), kept per cluster as the values that differ from the defaults; existing clusters get {} (every
default: no ingress controller, the cluster's default StorageClass), which is how they deployed until now.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "clusters",
        sa.Column(
            "advanced_settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema="catalog",
    )


def downgrade() -> None:
    op.drop_column("clusters", "advanced_settings", schema="catalog")
