"""a job deployment that runs one of its events now (Qovery's forceEvent: START, STOP, DELETE, CRON)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 00:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("force_event", sa.String(16), nullable=True), schema="deployer")


def downgrade() -> None:
    op.drop_column("deployments", "force_event", schema="deployer")
