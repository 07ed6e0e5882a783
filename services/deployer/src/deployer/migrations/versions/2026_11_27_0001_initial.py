"""deployer initial schema: outbox and processed messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from slipway.migrations import create_event_tables, drop_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "deployer"


def upgrade() -> None:
    create_event_tables(SCHEMA)


def downgrade() -> None:
    drop_event_tables(SCHEMA)
