"""cron schedules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 19:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cron_schedules",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("image", sa.String(length=1024), nullable=False),
        sa.Column("execution_id", sa.String(length=128), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("running", sa.String(length=160), nullable=True),
        sa.Column("run_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_cron_schedules")),
        schema="deployer",
    )
    op.create_index(
        op.f("ix_deployer_cron_schedules_environment_id"),
        "cron_schedules",
        ["environment_id"],
        unique=False,
        schema="deployer",
    )
    op.create_index("ix_cron_schedules_due", "cron_schedules", ["next_run_at"], unique=False, schema="deployer")


def downgrade() -> None:
    op.drop_index("ix_cron_schedules_due", table_name="cron_schedules", schema="deployer")
    op.drop_index(op.f("ix_deployer_cron_schedules_environment_id"), table_name="cron_schedules", schema="deployer")
    op.drop_table("cron_schedules", schema="deployer")
