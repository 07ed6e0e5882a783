"""Transactional outbox: events are rows written with the change, published by a relay afterwards."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from slipway.db import Database
from slipway.events.envelope import Envelope
from slipway.natsconn import NatsConnection
from slipway.tasks import cancel_and_wait
from slipway.timeutil import utcnow
from slipway.tracing import inject_headers

log = logging.getLogger("slipway.outbox")


def _channel(outbox: Table) -> str:
    return f"slipway_outbox_{outbox.schema}"


async def add_event(session: AsyncSession, outbox: Table, envelope: Envelope) -> None:
    """Record `envelope` in the caller's transaction; it is published only if that transaction commits."""
    await session.execute(
        outbox.insert().values(
            id=envelope.id,
            subject=envelope.subject,
            data=envelope.model_dump_json(),
            headers=inject_headers({}),
        )
    )
    # NOTIFY is transactional: the relay wakes only once the row is committed.
    await session.execute(text(f"NOTIFY {_channel(outbox)}"))


class OutboxRelay:
    """Publishes unpublished outbox rows in order, marking each after JetStream acknowledges it.

    A crash between publish and mark republishes the row on restart; JetStream drops the duplicate
    inside its window (Nats-Msg-Id = envelope id) and consumers de-duplicate beyond it.
    """

    def __init__(
        self,
        db: Database,
        nats: NatsConnection,
        outbox: Table,
        *,
        poll_seconds: float = 0.5,
        batch_size: int = 100,
        keep_published: timedelta = timedelta(days=1),
    ) -> None:
        self.db = db
        self.nats = nats
        self.outbox = outbox
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.keep_published = keep_published
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.outbox.schema}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._close_listener()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                await asyncio.wait_for(self._listener.close(), 2)
            except Exception:  # noqa: BLE001
                self._listener.terminate()
            self._listener = None

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        url = self.db.engine.url.set(drivername="postgresql")
        try:
            self._listener = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=3)
            await self._listener.add_listener(_channel(self.outbox), lambda *_: self._wake.set())
        except Exception as exc:  # noqa: BLE001 - polling still delivers, only slower
            log.debug("outbox LISTEN unavailable: %s", exc)
            self._listener = None

    async def _run(self) -> None:
        last_cleanup = utcnow()
        failures = 0
        while True:
            try:
                await self._listen()
                js = await self.nats.wait_connected()
                published = await self.relay_once(js)
                failures = 0
                if utcnow() - last_cleanup > timedelta(minutes=10):
                    await self._cleanup()
                    last_cleanup = utcnow()
                if published == self.batch_size:
                    continue  # more rows are waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the rows stay unpublished; retry with back-off
                failures += 1
                log.warning("outbox relay failed (attempt %d): %s", failures, exc)
                await self._close_listener()
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def relay_once(self, js) -> int:  # type: ignore[no-untyped-def]
        """Publish one batch; returns how many rows were published."""
        o = self.outbox
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(o.c.seq, o.c.id, o.c.subject, o.c.data, o.c.headers)
                    .where(o.c.published_at.is_(None))
                    .order_by(o.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                headers = {**(row.headers or {}), "Nats-Msg-Id": str(row.id)}
                await js.publish(row.subject, row.data.encode(), headers=headers, timeout=5)
                await session.execute(update(o).where(o.c.seq == row.seq).values(published_at=utcnow()))
            return len(rows)

    async def _cleanup(self) -> None:
        o = self.outbox
        async with self.db.transaction() as session:
            await session.execute(
                delete(o).where(o.c.published_at.is_not(None), o.c.published_at < utcnow() - self.keep_published)
            )
