"""job outputs

The values a job's run wrote to /qovery-output/qovery-output.json (Qovery's job outputs), seen by every service of
its environment as QOVERY_OUTPUT_JOB_Z<short id>_<KEY> built-ins.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 00:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_outputs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("value_encrypted", sa.Text(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("execution_id", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["catalog.services.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["environment_id"], ["catalog.environments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="catalog",
    )
    op.create_index("ix_job_outputs_environment", "job_outputs", ["environment_id"], schema="catalog")
    op.create_index("uq_job_outputs_key", "job_outputs", ["job_id", "key"], unique=True, schema="catalog")


def downgrade() -> None:
    op.drop_index("uq_job_outputs_key", table_name="job_outputs", schema="catalog")
    op.drop_index("ix_job_outputs_environment", table_name="job_outputs", schema="catalog")
    op.drop_table("job_outputs", schema="catalog")
