"""iam boots, migrates its own schema and reports ready against real Postgres and NATS."""

from iam.main import create_app
from iam.settings import IamSettings
from slipway_stack.testing import assert_boots_ready


async def test_boots_migrated_and_ready(empty_database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    app = create_app(IamSettings(database_url=empty_database_url, nats_url=nats_server.url))
    await assert_boots_ready(app, "iam", {"users", "api_tokens", "outbox", "processed_messages"})
