"""Fan-out of live service output: one upstream per watched service, a bounded queue per websocket client.

Per (environment, service) with at least one client, a `ServiceHub` holds ONE NATS subscription on
`logs.<environment_id>.<service_id>` and keeps the deployer's tail alive (`logsctl.tail` every
`tail_keepalive_seconds`); it keeps the last `ring_lines` lines, de-duplicated, so a client reconnecting with its
last timestamp resumes without a gap, and asks the deployer for older history when a client's `start` is older
than the ring. Each client has a queue of `service_client_buffer` frames: broadcasting never waits, and a client whose
queue is full is closed with 1011. The hub stops `upstream_linger_seconds` after its last client left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from logs.service_logs.lines import Line, from_json
from logs.settings import LogsSettings
from slipway.contracts import Subjects
from slipway.natsconn import NatsConnection
from slipway.tasks import cancel_and_wait

log = logging.getLogger("logs.fanout")

TAIL_SUBJECT = Subjects.LOGSCTL_TAIL
SLOW_CLIENT = 1011


def now_ms() -> int:
    return int(time.time() * 1000)


class UpstreamUnavailable(Exception):
    """NATS is unreachable: the client should retry later (1011)."""


class Subscriber:
    """One client's bounded queue of frames; `overflowed` is set (and the client dropped) when it is full."""

    def __init__(self, maxsize: int, accept: Callable[[Line], bool] | None) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.accept = accept  # None: every line
        self.overflowed = asyncio.Event()

    def offer(self, line: Line) -> bool:
        """Queue the line's frame if the client wants it; False when the client fell behind."""
        if self.accept is not None and not self.accept(line):
            return True
        try:
            self.queue.put_nowait(line.frame)
        except asyncio.QueueFull:
            self.overflowed.set()
            return False
        return True


async def serve_client(websocket: WebSocket, initial: list[str], subscriber: Subscriber) -> None:
    """Send `initial` then the queue until the client leaves; close 1011 when it overflowed."""

    async def write() -> None:
        for frame in initial:
            await websocket.send_text(frame)
        while True:
            frame = await subscriber.queue.get()
            await websocket.send_text(frame)

    async def read() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    await pump(websocket, write, read, subscriber.overflowed)


async def pump(websocket: WebSocket, write: Callable[[], Any], read: Callable[[], Any], stop: asyncio.Event) -> None:
    writer, reader = asyncio.create_task(write()), asyncio.create_task(read())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({writer, reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(writer, reader, stopper)
    if stop.is_set():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=SLOW_CLIENT, reason="client too slow: frames dropped"), 30)


class ServiceHub:
    def __init__(self, owner: Fanout, environment_id: str, service_id: str) -> None:
        self.owner = owner
        self.environment_id = environment_id
        self.service_id = service_id
        self.subject = f"logs.{environment_id}.{service_id}"
        self.capacity = owner.settings.ring_lines
        self.ring: deque[Line] = deque()
        self.seen: set[tuple[int, str, str, str]] = set()
        self.covered_since: int = now_ms()  # every line with timestamp >= covered_since is in the ring
        self.newest_ms = 0
        self.tail_since_ms = 0  # where the deployer's tail follows from (its last reply)
        self.subscribers: set[Subscriber] = set()
        self.clients = 0
        self.ready = asyncio.Event()
        self.pending: list[Line] | None = []  # live lines received before the first history merged
        self.lock = asyncio.Lock()
        self.sub: Subscription | None = None
        self.tail_requests = 0
        self._keepalive: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._starter: asyncio.Task[None] | None = None
        self.error: Exception | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self, since_ms: int) -> None:
        self._starter = asyncio.create_task(self._start(since_ms))

    async def _start(self, since_ms: int) -> None:
        try:
            nc = await self.owner.client()
            self.sub = await nc.subscribe(self.subject, cb=self._on_message)
            reply = await self._tail(since_ms)
            if reply is not None:
                self._merge(reply, since_ms)
            for line in self.pending or []:
                self._add(line)
            self.pending = None
            self._keepalive = asyncio.create_task(self._keep_alive())
        except Exception as exc:  # noqa: BLE001 - NATS unreachable: every waiting client is told to retry
            log.warning("log upstream of %s failed to start: %s", self.service_id, exc)
            self.error = exc
        finally:
            self.pending = None
            self.ready.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._starter, self._keepalive)
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()
            self.sub = None
        for subscriber in list(self.subscribers):
            subscriber.overflowed.set()  # the service's upstream is going away (shutdown)
        self.subscribers.clear()

    def acquire(self) -> None:
        self.clients += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def release(self, subscriber: Subscriber | None) -> None:
        if subscriber is not None:
            self.subscribers.discard(subscriber)
        self.clients -= 1
        if self.clients == 0:
            linger = self.owner.settings.upstream_linger_seconds
            self._linger = asyncio.get_running_loop().call_later(linger, self.owner.retire, self)

    # -- upstream ---------------------------------------------------------------------------------------------
    async def _tail(self, since_ms: int | None) -> dict[str, Any] | None:
        nc = await self.owner.client()
        body: dict[str, Any] = {"environment_id": self.environment_id, "service_id": self.service_id}
        if since_ms is not None:
            body["since_ms"] = since_ms
        self.tail_requests += 1
        try:
            msg = await nc.request(
                TAIL_SUBJECT, json.dumps(body).encode(), timeout=self.owner.settings.tail_request_timeout
            )
            reply = json.loads(msg.data)
        except Exception as exc:  # noqa: BLE001 - no deployer now: live lines come once a keep-alive gets through
            log.warning("tail request for %s failed: %s", self.service_id, exc)
            return None
        if not reply.get("ok"):
            log.warning("tail request for %s refused: %s", self.service_id, reply.get("error"))
        if reply.get("since_ms"):
            self.tail_since_ms = int(reply["since_ms"])
        return dict(reply)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.owner.settings.tail_keepalive_seconds)
            # a deployer that restarted starts a new tail and answers the lines since our newest: no gap
            reply = await self._tail(max(self.newest_ms, self.tail_since_ms) or None)
            if reply is not None:
                self._merge(reply, None)

    async def _on_message(self, msg: Msg) -> None:
        try:
            line = from_json(self.environment_id, json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("malformed log line on %s: %s", msg.subject, exc)
            return
        if self.pending is not None:
            self.pending.append(line)
        else:
            self._add(line)

    # -- ring -------------------------------------------------------------------------------------------------
    def _add(self, line: Line) -> None:
        """A new line: keep it and hand it to every subscriber (never waits; drops the ones that fell behind)."""
        if line.key in self.seen:
            return
        self.seen.add(line.key)
        self.ring.append(line)
        self.newest_ms = max(self.newest_ms, line.timestamp_ms)
        while len(self.ring) > self.capacity:
            evicted = self.ring.popleft()
            self.seen.discard(evicted.key)
            self.covered_since = max(self.covered_since, evicted.timestamp_ms + 1)
        dropped = [s for s in self.subscribers if not s.offer(line)]
        for subscriber in dropped:
            self.subscribers.discard(subscriber)

    def _merge(self, reply: dict[str, Any], requested_since: int | None) -> None:
        """History from a tail reply: older than the ring → inserted quietly; newer (a gap) → broadcast."""
        history: list[Line] = []
        for body in reply.get("history") or []:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                history.append(from_json(self.environment_id, body))
        history.sort(key=lambda x: x.timestamp_ms)
        older = [x for x in history if x.timestamp_ms < self.covered_since and x.key not in self.seen]
        if older:
            for line in older:
                self.seen.add(line.key)
            self.ring = deque(sorted([*older, *self.ring], key=lambda x: x.timestamp_ms))
            while len(self.ring) > self.capacity:
                self.seen.discard(self.ring.popleft().key)
        for line in history:
            if line.timestamp_ms >= self.covered_since:
                self._add(line)
        if requested_since is not None and reply.get("ok"):
            first = history[0].timestamp_ms if reply.get("truncated") and history else requested_since
            self.covered_since = min(self.covered_since, first)
        if len(self.ring) >= self.capacity:  # the oldest lines were evicted: only what follows is complete
            self.covered_since = max(self.covered_since, self.ring[0].timestamp_ms + 1)

    async def cover(self, since_ms: int) -> None:
        """Make the ring hold every line from `since_ms` (asks the deployer for older history when needed)."""
        async with self.lock:
            if since_ms < self.covered_since:
                reply = await self._tail(since_ms)
                if reply is not None:
                    self._merge(reply, since_ms)

    def snapshot(self, since_ms: int | None, limit: int | None, accept: Callable[[Line], bool] | None) -> list[str]:
        frames = [
            x.frame
            for x in self.ring
            if (since_ms is None or x.timestamp_ms >= since_ms) and (accept is None or accept(x))
        ]
        if limit is not None:
            frames = frames[-limit:] if limit > 0 else []
        return frames


class Fanout:
    """The hubs of the services being watched, keyed by (environment_id, service_id)."""

    def __init__(self, nats: NatsConnection, settings: LogsSettings) -> None:
        self.nats = nats
        self.settings = settings
        self.hubs: dict[tuple[str, str], ServiceHub] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    async def client(self) -> NATS:
        await self.nats.wait_connected(timeout=self.settings.tail_request_timeout)
        assert self.nats.nc is not None
        return self.nats.nc

    async def watch(
        self,
        environment_id: str,
        service_id: str,
        *,
        since_ms: int | None,
        limit: int | None,
        accept: Callable[[Line], bool] | None,
    ) -> tuple[ServiceHub, list[str], Subscriber]:
        """Join the service's hub; returns the history frames and the subscriber (call `leave` when done)."""
        key = (environment_id, service_id)
        hub = self.hubs.get(key)
        if hub is None:
            hub = self.hubs[key] = ServiceHub(self, environment_id, service_id)
            window = now_ms() - self.settings.history_seconds * 1000
            hub.start(min(window, since_ms) if since_ms is not None else window)
        hub.acquire()
        try:
            await hub.ready.wait()
            if hub.error is not None:
                raise UpstreamUnavailable(str(hub.error))
            if since_ms is not None:
                await hub.cover(since_ms)
            if since_ms is None and limit is None:
                limit = self.settings.default_limit
            frames = hub.snapshot(since_ms, limit, accept)
            subscriber = Subscriber(self.settings.service_client_buffer, accept)
            hub.subscribers.add(subscriber)  # same step as the snapshot: no line falls in between
        except BaseException:
            hub.release(None)
            if hub.error is not None:
                self.retire(hub)
            raise
        return hub, frames, subscriber

    def retire(self, hub: ServiceHub) -> None:
        if hub.clients == 0 and self.hubs.get((hub.environment_id, hub.service_id)) is hub:
            del self.hubs[(hub.environment_id, hub.service_id)]
            task = asyncio.create_task(hub.stop())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        hubs, self.hubs = list(self.hubs.values()), {}
        for hub in hubs:
            if hub._linger is not None:
                hub._linger.cancel()
            await hub.stop()
        await asyncio.gather(*self._retiring, return_exceptions=True)
