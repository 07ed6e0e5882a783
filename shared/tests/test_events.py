"""Outbox + relay + idempotent consumer against a real Postgres and a real JetStream."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from slipway.db import Database
from slipway.events import (
    Consumer,
    Envelope,
    OutboxRelay,
    PermanentError,
    RetryableError,
    Subscription,
    add_event,
)
from slipway.events.tables import event_tables
from slipway.natsconn import NatsConnection
from slipway_stack.testing import start_nats, wait_until

SUBJECT = "evt.test.thing.created"


@dataclass
class Kit:
    db: Database
    schema: str
    outbox: Table
    processed: Table
    applied: Table

    async def count(self, table: Table, **where: str) -> int:
        stmt = select(func.count()).select_from(table)
        for key, value in where.items():
            stmt = stmt.where(table.c[key] == value)
        async with self.db.transaction() as s:
            return int((await s.execute(stmt)).scalar_one())

    async def applied_ids(self) -> list[str]:
        async with self.db.transaction() as s:
            return list((await s.execute(select(self.applied.c.message_id))).scalars())

    async def emit(self, envelope: Envelope) -> None:
        async with self.db.transaction() as s:
            await add_event(s, self.outbox, envelope)


@pytest.fixture
async def kit(database_url: str) -> AsyncIterator[Kit]:
    schema = "evtest"
    metadata = MetaData(schema=schema)
    outbox, processed = event_tables(metadata)
    applied = Table(
        "applied",
        metadata,
        Column("n", Integer, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False),  # no unique: a double apply would show
    )
    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        await conn.run_sync(metadata.create_all)
    yield Kit(db, schema, outbox, processed, applied)
    await db.dispose()


@pytest.fixture
async def nats(nats_server) -> AsyncIterator[NatsConnection]:  # type: ignore[no-untyped-def]
    conn = NatsConnection(nats_server.url, "test")
    await conn.start()
    await conn.wait_connected(10)
    yield conn
    await conn.close()


def recording_handler(kit: Kit):  # type: ignore[no-untyped-def]
    async def handler(session, envelope: Envelope) -> None:  # type: ignore[no-untyped-def]
        await session.execute(insert(kit.applied).values(message_id=str(envelope.id)))

    return handler


def consumer(kit: Kit, nats: NatsConnection, handler=None, name: str = "test-consumer") -> Consumer:  # type: ignore[no-untyped-def]
    return Consumer(
        name,
        "SLIPWAY_EVENTS",
        [Subscription("evt.test.>", handler or recording_handler(kit))],
        kit.db,
        nats,
        kit.processed,
        ack_wait=5,
    )


async def running(*parts):  # type: ignore[no-untyped-def]
    for part in parts:
        await part.start()
    return parts


async def stop(*parts) -> None:  # type: ignore[no-untyped-def]
    for part in parts:
        await part.stop()


CHILD = """
import asyncio, os, sys
from sqlalchemy import MetaData
from slipway.db import Database
from slipway.events import Envelope, add_event, event_tables

async def main():
    outbox, _ = event_tables(MetaData(schema=sys.argv[2]))
    db = Database(sys.argv[1])
    async with db.transaction() as session:
        await add_event(session, outbox, Envelope(id=sys.argv[3], type=sys.argv[4], source="child"))
    print("committed", flush=True)
    os._exit(0)  # killed right after the commit: no relay ran, no clean shutdown

asyncio.run(main())
"""


async def test_publisher_killed_between_commit_and_relay_delivers_once(kit: Kit, nats: NatsConnection) -> None:
    event_id = str(uuid.uuid4())
    url = kit.db.engine.url.render_as_string(hide_password=False)
    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CHILD, url, kit.schema, event_id, SUBJECT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0 and "committed" in child.stdout, child.stderr
    assert await kit.count(kit.outbox, subject=SUBJECT) == 1  # durable, not yet published

    relay, cons = OutboxRelay(kit.db, nats, kit.outbox, poll_seconds=0.1), consumer(kit, nats)
    await running(relay, cons)
    try:
        await wait_until(lambda: kit.applied_ids(), message="event never applied")
        js = await nats.wait_connected()
        await wait_until(_consumer_drained(js, "test-consumer"))
        assert await kit.applied_ids() == [event_id]
    finally:
        await stop(cons, relay)


def _consumer_drained(js, name: str):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        try:
            info = await js.consumer_info("SLIPWAY_EVENTS", name)
        except NotFoundError:  # not created yet
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0

    return check


async def test_relay_crash_after_publish_is_deduplicated(kit: Kit, nats: NatsConnection) -> None:
    envelope = Envelope(type=SUBJECT, source="test")
    await kit.emit(envelope)
    js = await nats.wait_connected()
    # The crashed relay had published the row but never marked it published.
    await js.publish(SUBJECT, envelope.to_bytes(), headers={"Nats-Msg-Id": str(envelope.id)})

    relay, cons = OutboxRelay(kit.db, nats, kit.outbox, poll_seconds=0.1), consumer(kit, nats)
    await running(relay, cons)
    try:

        async def published() -> bool:
            return await kit.count(kit.outbox) == 1 and not await _unpublished(kit)

        await wait_until(published)
        await wait_until(_consumer_drained(js, "test-consumer"))
        stream = await js.stream_info("SLIPWAY_EVENTS")
        assert stream.state.messages == 1  # JetStream dropped the republish (same Nats-Msg-Id)
        assert await kit.applied_ids() == [str(envelope.id)]
    finally:
        await stop(cons, relay)


async def _unpublished(kit: Kit) -> int:
    async with kit.db.transaction() as s:
        return int(
            (
                await s.execute(select(func.count()).select_from(kit.outbox).where(kit.outbox.c.published_at.is_(None)))
            ).scalar_one()
        )


async def test_duplicate_message_is_applied_once(kit: Kit, nats: NatsConnection) -> None:
    envelope = Envelope(type=SUBJECT, source="test")
    js = await nats.wait_connected()
    # Beyond the dedup window the same envelope can arrive twice under different message ids.
    for msg_id in ("first", "second"):
        await js.publish(SUBJECT, envelope.to_bytes(), headers={"Nats-Msg-Id": msg_id})
    assert (await js.stream_info("SLIPWAY_EVENTS")).state.messages == 2
    cons = consumer(kit, nats)
    await cons.start()
    try:
        await wait_until(_consumer_drained(js, "test-consumer"))
        assert await kit.applied_ids() == [str(envelope.id)]
        assert await kit.count(kit.processed, consumer="test-consumer") == 1
    finally:
        await cons.stop()


async def test_retryable_error_redelivers_and_permanent_error_terminates(kit: Kit, nats: NatsConnection) -> None:
    attempts: dict[str, int] = {}
    flaky, broken = Envelope(type=SUBJECT, source="test"), Envelope(type="evt.test.thing.broken", source="test")
    record = recording_handler(kit)

    async def handler(session, envelope: Envelope) -> None:  # type: ignore[no-untyped-def]
        attempts[envelope.type] = attempts.get(envelope.type, 0) + 1
        await record(session, envelope)  # written, then rolled back when the handler fails
        if envelope.id == broken.id:
            raise PermanentError("cannot ever apply")
        if attempts[envelope.type] < 3:
            raise RetryableError("not yet", delay=0.1)

    js = await nats.wait_connected()
    for e in (flaky, broken):
        await js.publish(e.subject, e.to_bytes(), headers={"Nats-Msg-Id": str(e.id)})
    cons = consumer(kit, nats, handler)
    await cons.start()
    try:
        await wait_until(lambda: kit.applied_ids())
        await wait_until(_consumer_drained(js, "test-consumer"))
        assert await kit.applied_ids() == [str(flaky.id)]
        assert attempts == {SUBJECT: 3, "evt.test.thing.broken": 1}
        assert await kit.count(kit.processed, message_id=str(broken.id)) == 0
    finally:
        await cons.stop()


async def test_nats_restart_during_publishing_loses_nothing(kit: Kit, make_nats) -> None:  # type: ignore[no-untyped-def]
    server = make_nats()
    nats = NatsConnection(server.url, "test")
    await nats.start()
    await nats.wait_connected(10)
    relay, cons = OutboxRelay(kit.db, nats, kit.outbox, poll_seconds=0.1), consumer(kit, nats)
    await running(relay, cons)
    total = 150
    emitted: list[str] = []
    try:
        for i in range(total):
            envelope = Envelope(type=SUBJECT, source="test", payload={"i": i})
            await kit.emit(envelope)
            emitted.append(str(envelope.id))
            if i == 50:
                await asyncio.to_thread(server.stop)  # SIGTERM; writes keep committing to the outbox
            if i == 100:
                await asyncio.to_thread(start_nats, server)  # same port, same store directory
            await asyncio.sleep(0)

        async def all_applied() -> bool:
            return await kit.count(kit.applied) >= total

        await wait_until(all_applied, timeout=60, message="not every event arrived after the restart")
        js = await nats.wait_connected()
        await wait_until(_consumer_drained(js, "test-consumer"), timeout=30)
        applied = await kit.applied_ids()
        assert sorted(applied) == sorted(emitted)  # every event, each exactly once
        assert await _unpublished(kit) == 0
    finally:
        await stop(cons, relay)
        await nats.close()


async def test_outbox_write_rolls_back_with_the_transaction(kit: Kit) -> None:
    with pytest.raises(RuntimeError):
        async with kit.db.transaction() as s:
            await add_event(s, kit.outbox, Envelope(type=SUBJECT, source="test"))
            raise RuntimeError("business rule failed")
    assert await kit.count(kit.outbox) == 0


class Wrapped:
    """Subscriptions as the consumer gets them, whose fetch() first raises the given errors, then fetches."""

    def __init__(self, cons: Consumer, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.subscribed: list[object] = []
        self.released: list[object] = []
        subscribe = cons._subscribe

        async def wrapped():  # type: ignore[no-untyped-def]
            sub = await subscribe()
            self.subscribed.append(sub)
            fetch, unsubscribe = sub.fetch, sub.unsubscribe

            async def failing_fetch(*args, **kwargs):  # type: ignore[no-untyped-def]
                if self.errors:
                    await asyncio.sleep(0.05)
                    raise self.errors.pop(0)
                return await fetch(*args, **kwargs)

            async def tracked_unsubscribe() -> None:
                self.released.append(sub)
                await unsubscribe()

            sub.fetch, sub.unsubscribe = failing_fetch, tracked_unsubscribe
            return sub

        cons._subscribe = wrapped  # type: ignore[method-assign]


async def test_a_bare_timeout_from_fetch_is_an_empty_fetch_and_an_outage_releases_the_subscription(
    kit: Kit, nats: NatsConnection, caplog: pytest.LogCaptureFixture
) -> None:
    """nats-py's fetch() raises a bare TimeoutError when its deadline passes between its two pull requests (a
    loaded machine): nothing to fetch, not an outage, so the consumer keeps its subscription. A real interruption
    subscribes again, and the subscription it replaces is released (it used to stay, one per interruption)."""
    caplog.set_level(logging.WARNING, logger="slipway.consumer")
    js = await nats.wait_connected()
    cons = consumer(kit, nats, name=f"test-timeouts-{uuid.uuid4().hex[:8]}")
    subs = Wrapped(cons, TimeoutError(), TimeoutError(), TimeoutError())

    async def applied(envelope: Envelope) -> bool:
        return str(envelope.id) in await kit.applied_ids()

    await cons.start()
    try:
        first = Envelope(type=SUBJECT, source="test")
        await js.publish(SUBJECT, first.to_bytes(), headers={"Nats-Msg-Id": str(first.id)})
        await wait_until(lambda: applied(first), message="the event applied")
        assert len(subs.subscribed) == 1 and subs.released == [] and not subs.errors
        assert "interrupted" not in caplog.text

        subs.errors.append(ConnectionError("connection lost"))  # an outage: subscribe again
        await wait_until(lambda: len(subs.subscribed) == 2, message="a new subscription")
        assert subs.released == [subs.subscribed[0]] and "interrupted" in caplog.text
        second = Envelope(type=SUBJECT, source="test")
        await js.publish(SUBJECT, second.to_bytes(), headers={"Nats-Msg-Id": str(second.id)})
        await wait_until(lambda: applied(second), message="the event after the outage applied")
        assert (await kit.applied_ids()).count(str(first.id)) == 1
    finally:
        await cons.stop()
