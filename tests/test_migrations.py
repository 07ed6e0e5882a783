"""Every service's Alembic history applies to its own schema, is idempotent, and downgrades cleanly."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from slipway.db import async_url
from slipway.migrate import SERVICE_PACKAGES, migrations_dir
from slipway.migrations import alembic_config, upgrade

SERVICES = list(SERVICE_PACKAGES)


async def tables(url: str, schema: str) -> set[str]:
    engine = create_async_engine(async_url(url))
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
        )
        names = {r[0] for r in rows}
    await engine.dispose()
    return names


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_round_trip(service: str, empty_database_url: str) -> None:
    from alembic import command

    where = migrations_dir(service)
    await asyncio.to_thread(upgrade, where, empty_database_url, service)
    created = await tables(empty_database_url, service)
    assert {"outbox", "processed_messages", "alembic_version"} <= created
    await asyncio.to_thread(upgrade, where, empty_database_url, service)  # second run: nothing to do, no error
    assert await tables(empty_database_url, service) == created
    await asyncio.to_thread(command.downgrade, alembic_config(where, empty_database_url, service), "base")
    assert await tables(empty_database_url, service) == {"alembic_version"}
    await asyncio.to_thread(upgrade, where, empty_database_url, service)
    assert await tables(empty_database_url, service) == created
    # no other schema was touched
    for other in SERVICES:
        if other != service:
            assert await tables(empty_database_url, other) == set()


async def test_all_services_share_one_database_in_separate_schemas(empty_database_url: str) -> None:
    for service in SERVICES:
        await asyncio.to_thread(upgrade, migrations_dir(service), empty_database_url, service)
    for service in SERVICES:
        assert "outbox" in await tables(empty_database_url, service)
    assert {"users", "api_tokens"} <= await tables(empty_database_url, "iam")
