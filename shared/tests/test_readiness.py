"""/readyz follows the real database and NATS: red when either stops, green again when it returns."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import MetaData

from slipway.app import ServiceSpec, create_service_app
from slipway.events import event_tables
from slipway.settings import ServiceSettings
from slipway_stack.postgres import EmbeddedPostgres
from slipway_stack.procs import free_port
from slipway_stack.testing import serve, start_nats, wait_until


@pytest.fixture
def own_postgres(tmp_path) -> EmbeddedPostgres:  # type: ignore[no-untyped-def]
    """A Postgres of this test's own, since the test stops it."""
    pg = EmbeddedPostgres(tmp_path / "pgdata", free_port(), tmp_path / "pg.log")
    pg.init()
    pg.start()
    pg.create_database("slipway")
    yield pg
    pg.stop()


def make_app(database_url: str, nats_url: str):  # type: ignore[no-untyped-def]
    metadata = MetaData(schema="readytest")
    event_tables(metadata)
    settings = ServiceSettings(service_name="readytest", database_url=database_url, nats_url=nats_url)

    async def create_schema(app) -> None:  # type: ignore[no-untyped-def]
        async with app.state.db.engine.begin() as conn:
            await conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS readytest")
            await conn.run_sync(metadata.create_all)

    return create_service_app(ServiceSpec(settings=settings, metadata=metadata, on_startup=[create_schema]))


async def test_readyz_follows_postgres_and_nats(own_postgres: EmbeddedPostgres, nats_server) -> None:  # type: ignore[no-untyped-def]
    app = make_app(own_postgres.url(), nats_server.url)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def status() -> int:
            return (await client.get("/readyz")).status_code

        async def is_(code: int):  # type: ignore[no-untyped-def]
            return await status() == code

        await wait_until(lambda: is_(200), message="never ready")
        assert (await client.get("/healthz")).json()["status"] == "ok"

        await asyncio.to_thread(own_postgres.stop)
        await wait_until(lambda: is_(503), message="stayed green without Postgres")
        body = (await client.get("/readyz")).json()
        assert body["checks"]["database"].startswith("error") and body["checks"]["nats"] == "ok"
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready

        await asyncio.to_thread(own_postgres.start)
        await wait_until(lambda: is_(200), timeout=30, message="did not recover after Postgres returned")

        await asyncio.to_thread(nats_server.stop)
        await wait_until(lambda: is_(503), message="stayed green without NATS")
        assert (await client.get("/readyz")).json()["checks"]["nats"].startswith("error")

        await asyncio.to_thread(start_nats, nats_server)
        await wait_until(lambda: is_(200), timeout=30, message="did not recover after NATS returned")


async def test_service_boots_while_nats_is_down_and_turns_ready(database_url: str, make_nats) -> None:  # type: ignore[no-untyped-def]
    server = make_nats()
    await asyncio.to_thread(server.stop)  # its port is known but nothing listens yet
    app = make_app(database_url, server.url)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/readyz")).status_code == 503
        await asyncio.to_thread(start_nats, server)
        await wait_until(lambda: _ok(client), timeout=30)


async def _ok(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200
