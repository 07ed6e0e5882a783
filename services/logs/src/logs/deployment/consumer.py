"""Durable pull consumer on `deploylogs.>`: stores every line, acks only after the commit."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from logs.deployment import store
from logs.deployment.lines import parse_line
from slipway.db import Database
from slipway.deploylog import DeployLogLine
from slipway.natsconn import NatsConnection, release
from slipway.tasks import cancel_and_wait

log = logging.getLogger("logs.deployment.consumer")

STREAM = "SLIPWAY_DEPLOYLOGS"
SUBJECT = "deploylogs.>"
DURABLE = "logs-deploylogs"


class LineConsumer:
    """Stores batches of lines; a redelivered line hits the unique key and is skipped."""

    def __init__(self, db: Database, nats: NatsConnection, *, max_chars: int, batch: int = 256) -> None:
        self.db = db
        self.nats = nats
        self.max_chars = max_chars
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="consumer-deploylogs")

    async def stop(self) -> None:
        self._stopping = True  # nats-py may swallow a cancellation inside fetch(): the flag ends the loop
        await cancel_and_wait(self._task)
        # a pull request's late status message left in the queue would hold NATS's drain for seconds
        await release(self._sub)
        self._sub = None

    async def _subscribe(self):  # type: ignore[no-untyped-def]
        js = await self.nats.wait_connected()
        try:
            await js.consumer_info(STREAM, DURABLE)
        except NotFoundError:
            config = ConsumerConfig(
                durable_name=DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=SUBJECT,
                ack_wait=30.0,
                max_ack_pending=20_000,
            )
            await js.add_consumer(STREAM, config=config)
        return await js.pull_subscribe_bind(durable=DURABLE, stream=STREAM)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                sub = self._sub = await self._subscribe()
                while not self._stopping:
                    try:
                        msgs = await sub.fetch(self.batch, timeout=1)
                    except TimeoutError:  # nothing to fetch: nats' TimeoutError, or the bare one fetch() may raise
                        continue
                    await self.handle(msgs)
                    failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS or database away: back off, the messages come again
                failures += 1
                log.warning("deployment log consumer interrupted (attempt %d): %r", failures, exc)
                await release(self._sub)  # the next subscription replaces it: no inbox left behind
                self._sub = None
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))

    async def handle(self, msgs: list[Msg]) -> None:
        kept: list[Msg] = []
        lines: list[DeployLogLine] = []
        for msg in msgs:
            line = parse_line(msg.data, self.max_chars)
            if line is None:
                await msg.term()
                continue
            kept.append(msg)
            lines.append(line)
        if not lines:
            return
        try:
            await store.save(self.db, lines)
        except Exception:
            for msg in kept:
                await msg.nak(delay=2.0)
            raise
        for msg in kept:
            await msg.ack()
