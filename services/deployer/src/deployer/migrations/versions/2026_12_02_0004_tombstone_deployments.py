"""deployments that uninstall a deleted environment or service (from catalog's tombstone)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("tombstone_id", sa.Uuid(), nullable=True), schema="deployer")
    op.add_column("deployments", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True), schema="deployer")
    op.create_index(
        "uq_deployments_tombstone",
        "deployments",
        ["tombstone_id"],
        unique=True,
        schema="deployer",
        postgresql_where=sa.text("tombstone_id IS NOT NULL AND phase <> 'DONE'"),
    )


def downgrade() -> None:
    op.drop_index("uq_deployments_tombstone", table_name="deployments", schema="deployer")
    op.drop_column("deployments", "not_before", schema="deployer")
    op.drop_column("deployments", "tombstone_id", schema="deployer")
