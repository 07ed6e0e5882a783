"""Live deployment lines: one core NATS subscription per process, fanned out to bounded per-client queues."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from nats.js.errors import NotFoundError

from logs.deployment.consumer import DURABLE, STREAM, SUBJECT
from logs.deployment.lines import parse_line
from slipway.deploylog import DeployLogLine
from slipway.natsconn import NatsConnection
from slipway.tasks import cancel_and_wait

log = logging.getLogger("logs.deployment.hub")


class Feed:
    """One client's queue of live lines of one environment; never blocks the hub (overflow = resync)."""

    def __init__(self, environment_id: str, size: int) -> None:
        self.environment_id = environment_id
        self.queue: asyncio.Queue[DeployLogLine] = asyncio.Queue(maxsize=size)
        self.overflowed = False

    def offer(self, line: DeployLogLine) -> bool:
        """Queue the line; False when the client is too far behind (it will re-read from the database)."""
        try:
            self.queue.put_nowait(line)
            return True
        except asyncio.QueueFull:
            self.overflowed = True
            return False

    async def next_batch(self, limit: int = 1000) -> list[DeployLogLine]:
        """Wait for at least one line, then take what is queued (up to `limit`)."""
        batch = [await self.queue.get()]
        while len(batch) < limit and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    def reset(self) -> None:
        """Forget what is queued (the caller re-reads it from the database)."""
        self.overflowed = False
        while not self.queue.empty():
            self.queue.get_nowait()


class LineHub:
    def __init__(self, nats: NatsConnection, *, max_chars: int) -> None:
        self.nats = nats
        self.max_chars = max_chars
        self.feeds: dict[str, set[Feed]] = {}
        self.dropped = 0  # live lines a slow client missed (and re-read from the database)
        self._sub: Any = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="deploylogs-hub")

    async def _subscribe(self) -> None:
        await self.nats.wait_connected()
        assert self.nats.nc is not None
        self._sub = await self.nats.nc.subscribe(SUBJECT, cb=self._on_message, pending_msgs_limit=1_000_000)
        await self.nats.nc.flush()
        self._ready.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_message(self, msg: Any) -> None:
        if not self.feeds:
            return
        line = parse_line(msg.data, self.max_chars)
        if line is None:
            return
        for feed in self.feeds.get(line.environment_id, ()):
            if not feed.offer(line):
                self.dropped += 1

    async def open(self, environment_id: str, size: int, timeout: float = 10.0) -> Feed:
        """A feed of this environment's live lines from now on (raises TimeoutError if NATS is away)."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        feed = Feed(environment_id, size)
        self.feeds.setdefault(environment_id, set()).add(feed)
        return feed

    def close(self, feed: Feed) -> None:
        feeds = self.feeds.get(feed.environment_id)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self.feeds[feed.environment_id]

    async def caught_up(self, timeout: float) -> bool:
        """Wait until every line already in the stream is stored (the durable consumer acked it): a line
        published just before a feed opened is then in the database, never in neither."""
        js = await self.nats.wait_connected(timeout)
        deadline = time.monotonic() + timeout
        try:
            target = (await js.stream_info(STREAM)).state.last_seq
            while True:
                info = await js.consumer_info(STREAM, DURABLE)
                floor = info.ack_floor.stream_seq if info.ack_floor else 0
                if floor >= target or (not info.num_pending and not info.num_ack_pending):
                    return True
                if time.monotonic() > deadline:
                    log.warning("deployment lines not stored within %.1fs; replaying what is stored", timeout)
                    return False
                await asyncio.sleep(0.05)
        except NotFoundError:
            return False
