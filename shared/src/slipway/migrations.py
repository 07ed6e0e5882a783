"""Alembic per service, each in its own Postgres schema; run from env.py and programmatically."""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from slipway.db import async_url


def alembic_config(migrations_dir: Path, database_url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(migrations_dir: Path, database_url: str, schema: str, revision: str = "head") -> None:
    """Bring the service's schema to `revision` (blocking; call from a thread in async code)."""
    command.upgrade(alembic_config(migrations_dir, database_url, schema), revision)


async def upgrade_async(migrations_dir: Path, database_url: str, schema: str) -> None:
    await asyncio.to_thread(upgrade, migrations_dir, database_url, schema)


def _lock_id(schema: str) -> int:
    return zlib.crc32(f"slipway-migrate:{schema}".encode())


def _do_run(connection: Connection, metadata: MetaData, schema: str) -> None:
    # An advisory lock serialises concurrent boots of the same service (e.g. two replicas).
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(schema)})
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        # autogenerate compares only this service's schema
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_env(metadata: MetaData, schema: str | None = None) -> None:
    """Body of every service's migrations/env.py (online mode, asyncpg)."""
    cfg = context.config
    schema = schema or cfg.attributes.get("schema") or metadata.schema
    assert schema, "a service schema is required"
    url = cfg.get_main_option("sqlalchemy.url")
    if not url:  # plain `alembic upgrade head`: take DATABASE_URL through the settings class
        from slipway.settings import ServiceSettings

        url = async_url(ServiceSettings().database_url)

    async def _run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_do_run, metadata, schema)
        finally:
            await engine.dispose()

    asyncio.run(_run())


def create_event_tables(schema: str) -> None:
    """Create the outbox and processed-message tables (called from a service's first revision)."""
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy.dialects import postgresql as pg

    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("headers", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["seq"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("message_id", sa.String(128), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def drop_event_tables(schema: str) -> None:
    """Undo `create_event_tables` (called from a service's first revision's downgrade)."""
    from alembic import op

    op.drop_table("processed_messages", schema=schema)
    op.drop_table("outbox", schema=schema)
