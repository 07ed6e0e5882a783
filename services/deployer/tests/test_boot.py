"""deployer boots, migrates its own schema and reports ready against real Postgres and NATS."""

from deployer.main import create_app
from deployer.settings import DeployerSettings
from slipway_stack.testing import assert_boots_ready


async def test_boots_migrated_and_ready(empty_database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    app = create_app(DeployerSettings(database_url=empty_database_url, nats_url=nats_server.url))
    await assert_boots_ready(app, "deployer", {"outbox", "processed_messages", "alembic_version", "cron_schedules"})
