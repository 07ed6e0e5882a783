"""previews

Preview environments per pull request, the repositories Git deliveries named (how their provider names them),
the reports owed to providers (commit statuses, PR comments), and the deployment rules' schedule checkpoint.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "previews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("blueprint_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("head_branch", sa.String(length=255), nullable=False),
        sa.Column("head_commit", sa.String(length=64), nullable=False),
        sa.Column("base_branch", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("comment_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["catalog.organizations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["environment_id"], ["catalog.environments.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("blueprint_id", "provider", "repository", "number", name="uq_previews"),
        schema="catalog",
    )
    op.create_index("ix_previews_state", "previews", ["state"], schema="catalog")
    op.create_table(
        "git_repositories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["catalog.organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "provider", "repository", name="uq_git_repositories"),
        schema="catalog",
    )
    op.create_table(
        "git_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("preview_id", sa.Uuid(), nullable=True),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["catalog.organizations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["token_id"], ["catalog.git_tokens.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        schema="catalog",
    )
    op.create_index(
        "ix_git_reports_due", "git_reports", ["next_at"], schema="catalog", postgresql_where="sent_at IS NULL"
    )
    op.add_column(
        "deployment_rules",
        sa.Column("schedule_checked_at", sa.DateTime(timezone=True), nullable=True),
        schema="catalog",
    )


def downgrade() -> None:
    op.drop_column("deployment_rules", "schedule_checked_at", schema="catalog")
    op.drop_table("git_reports", schema="catalog")
    op.drop_table("git_repositories", schema="catalog")
    op.drop_index("ix_previews_state", table_name="previews", schema="catalog")
    op.drop_table("previews", schema="catalog")
