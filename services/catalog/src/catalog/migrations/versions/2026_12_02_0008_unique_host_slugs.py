"""unique host slugs across the installation

Generated public hosts collided across organizations (each has its own default cluster on the same edge).
Duplicates are renamed (the oldest service keeps its slug, the others get `-z<8 hex of their id>`), then a
unique index keeps it so. The deployer re-applies routes from the desired state at the next deploy.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:40:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        WITH ranked AS (
            SELECT id, row_number() OVER (PARTITION BY config->>'host_slug' ORDER BY created_at, id) AS n
            FROM catalog.services WHERE config->>'host_slug' IS NOT NULL
        )
        UPDATE catalog.services AS s
        SET config = jsonb_set(
            s.config, '{host_slug}',
            to_jsonb((s.config->>'host_slug') || '-z' || left(replace(s.id::text, '-', ''), 8))
        )
        FROM ranked WHERE ranked.id = s.id AND ranked.n > 1
        """
    )
    op.execute("CREATE UNIQUE INDEX uq_services_host_slug ON catalog.services ((config ->> 'host_slug'))")


def downgrade() -> None:
    op.execute("DROP INDEX catalog.uq_services_host_slug")
