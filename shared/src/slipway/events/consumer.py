"""Idempotent JetStream consumer: apply a message once per consumer, ack after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from slipway.db import Database
from slipway.events.envelope import Envelope
from slipway.natsconn import NatsConnection, release
from slipway.tasks import cancel_and_wait
from slipway.tracing import consume_span

log = logging.getLogger("slipway.consumer")

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


class RetryableError(Exception):
    """The handler cannot apply the message yet; redeliver after `delay` seconds."""

    def __init__(self, message: str = "", delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(Exception):
    """The message can never be applied; it is terminated and logged."""


@dataclass(frozen=True)
class Subscription:
    subject: str  # NATS subject filter, wildcards allowed
    handler: Handler


def subject_matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


class Consumer:
    """One durable pull consumer on one stream, dispatching to subscriptions by subject."""

    def __init__(
        self,
        name: str,
        stream: str,
        subscriptions: list[Subscription],
        db: Database,
        nats: NatsConnection,
        processed: Table,
        *,
        max_deliver: int = 50,
        ack_wait: float = 30.0,
        batch: int = 20,
    ) -> None:
        if not subscriptions:
            raise ValueError("a consumer needs at least one subscription")
        self.name = name
        self.stream = stream
        self.subscriptions = subscriptions
        self.db = db
        self.nats = nats
        self.processed = processed
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sub: Any = None

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        # nats-py may swallow a cancellation inside fetch(); the flag ends the loop at the next turn.
        self._stopping = True
        await cancel_and_wait(self._task)
        await release(self._sub)  # else closing the connection drains it and waits for its timeout
        self._sub = None

    async def _subscribe(self):  # type: ignore[no-untyped-def]
        js = await self.nats.wait_connected()
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=[s.subject for s in self.subscriptions],
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait,
        )
        try:
            info = await js.consumer_info(self.stream, self.name)
            if sorted(info.config.filter_subjects or [info.config.filter_subject or ""]) != sorted(
                config.filter_subjects or []
            ):
                await js.add_consumer(self.stream, config=config)  # update the filters in place
        except NotFoundError:
            await js.add_consumer(self.stream, config=config)
        return await js.pull_subscribe_bind(durable=self.name, stream=self.stream)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                sub = self._sub = await self._subscribe()
                failures = 0
                while not self._stopping:
                    try:
                        msgs = await sub.fetch(self.batch, timeout=2)
                    except TimeoutError:  # nothing to fetch: nats' TimeoutError, or the bare one fetch() may raise
                        continue
                    for msg in msgs:
                        await self.handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS/DB outage: resubscribe with back-off
                failures += 1
                log.warning("consumer %s interrupted (attempt %d): %r", self.name, failures, exc)
                await release(self._sub)  # the next subscription replaces it: no inbox left behind
                self._sub = None
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))

    def _handler_for(self, subject: str) -> Handler | None:
        for sub in self.subscriptions:
            if subject_matches(sub.subject, subject):
                return sub.handler
        return None

    async def handle(self, msg: Msg) -> None:
        try:
            envelope = Envelope.from_bytes(msg.data)
        except ValidationError as exc:
            log.error("consumer %s: malformed message on %s terminated: %s", self.name, msg.subject, exc)
            await msg.term()
            return
        handler = self._handler_for(msg.subject)
        if handler is None:
            await msg.ack()
            return
        try:
            with consume_span(msg.subject, msg.headers or {}):
                await self.apply(envelope, handler)
        except RetryableError as exc:
            log.info("consumer %s: %s retried in %.1fs: %s", self.name, envelope.id, exc.delay, exc)
            await msg.nak(delay=exc.delay)
            return
        except PermanentError as exc:
            log.error("consumer %s: %s rejected: %s", self.name, envelope.id, exc)
            await msg.term()
            return
        except Exception:  # noqa: BLE001 - unexpected: retry later, the transaction rolled back
            log.exception("consumer %s: %s failed; will be redelivered", self.name, envelope.id)
            await msg.nak(delay=min(2.0 * (msg.metadata.num_delivered or 1), 30.0))
            return
        await msg.ack()

    async def apply(self, envelope: Envelope, handler: Handler) -> bool:
        """Run `handler` once per (consumer, message id); returns False for a duplicate."""
        async with self.db.transaction() as session:
            inserted = await session.execute(
                insert(self.processed)
                .values(consumer=self.name, message_id=str(envelope.id))
                .on_conflict_do_nothing()
                .returning(self.processed.c.message_id)
            )
            if inserted.first() is None:
                return False
            await handler(session, envelope)
            return True
