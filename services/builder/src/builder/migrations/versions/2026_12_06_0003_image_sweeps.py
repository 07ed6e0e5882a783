"""image sweeps: the deleted services whose images are still to be removed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "builder"


def upgrade() -> None:
    op.create_table(
        "image_sweeps",
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("service_id"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("image_sweeps", schema=SCHEMA)
