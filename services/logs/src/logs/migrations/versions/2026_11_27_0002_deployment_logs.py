"""deployment log lines and their executions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "logs"


def upgrade() -> None:
    op.create_table(
        "deployment_executions",
        sa.Column("execution_id", sa.String(length=128), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("first_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_deployment_executions")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_deployment_executions_recent",
        "deployment_executions",
        ["environment_id", "number", "first_timestamp_ms"],
        schema=SCHEMA,
    )
    op.create_table(
        "deployment_log_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("execution_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("cluster_id", sa.Uuid(), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("service_kind", sa.String(length=16), nullable=True),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("stage_id", sa.Uuid(), nullable=True),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_log_lines")),
        sa.UniqueConstraint("execution_id", "source", "seq", name="uq_deployment_log_lines_line"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_deployment_log_lines_order",
        "deployment_log_lines",
        ["execution_id", "timestamp_ms", "source", "seq"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index("ix_deployment_log_lines_order", table_name="deployment_log_lines", schema=SCHEMA)
    op.drop_table("deployment_log_lines", schema=SCHEMA)
    op.drop_index("ix_deployment_executions_recent", table_name="deployment_executions", schema=SCHEMA)
    op.drop_table("deployment_executions", schema=SCHEMA)
