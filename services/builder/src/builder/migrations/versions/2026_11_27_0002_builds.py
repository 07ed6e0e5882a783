"""builds

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

SCHEMA = "builder"


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("environment_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.String(length=2048), nullable=False),
        sa.Column("requested_ref", sa.String(length=255), nullable=True),
        sa.Column("root_path", sa.String(length=1024), nullable=False),
        sa.Column("dockerfile_path", sa.String(length=1024), nullable=False),
        sa.Column("image_repository", sa.String(length=512), nullable=False),
        sa.Column("registry_id", sa.String(length=64), nullable=True),
        sa.Column("source_key", sa.String(length=64), nullable=True),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("image", sa.String(length=1024), nullable=True),
        sa.Column("local_image", sa.String(length=1024), nullable=True),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failing_step", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
        sa.UniqueConstraint("deployment_id", "service_id", name="uq_builds_deployment_service"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_builds_source_key",
        "builds",
        ["source_key"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'SUCCEEDED'"),
    )
    op.create_index(
        "ix_builds_unfinished",
        "builds",
        ["status"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"),
    )


def downgrade() -> None:
    op.drop_index("ix_builds_unfinished", table_name="builds", schema=SCHEMA)
    op.drop_index("ix_builds_source_key", table_name="builds", schema=SCHEMA)
    op.drop_table("builds", schema=SCHEMA)
