"""tombstones of deleted environments and services

The deployer uninstalls a deleted environment or service like any other DELETE deployment (ON_DELETE
lifecycle jobs first, DELETE_* states, log lines); it reads what ran there from its tombstone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("state_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema="catalog",
    )


def downgrade() -> None:
    op.drop_table("tombstones", schema="catalog")
