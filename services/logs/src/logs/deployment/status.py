"""`/deployment/status`: deployer's statuses at connect and again after each `evt.deployer.status.changed`
of the watched environment(s), bursts coalesced, identical frames never repeated."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slipway.events import Envelope
from slipway.natsconn import NatsConnection
from slipway.tasks import cancel_and_wait

log = logging.getLogger("logs.deployment.status")

STATUS_CHANGED = "evt.deployer.status.changed"  # deployer's event (payload: environment_id, execution_id, state…)


class Watch:
    """Set when any of `environments` (None: any environment) changed; refreshed on every fetch."""

    def __init__(self, environments: set[str] | None) -> None:
        self.environments = environments
        self.changed = asyncio.Event()


class StatusHub:
    """One core NATS subscription (JetStream publishes reach core subscribers too) for every watcher."""

    def __init__(self, nats: NatsConnection) -> None:
        self.nats = nats
        self.watches: set[Watch] = set()
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="status-hub")

    async def _subscribe(self) -> None:
        await self.nats.wait_connected()
        assert self.nats.nc is not None
        self._sub = await self.nats.nc.subscribe(STATUS_CHANGED, cb=self._on_message)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_message(self, msg: Any) -> None:
        try:
            envelope = Envelope.from_bytes(msg.data)
        except ValueError:
            return
        environment_id = str(envelope.payload.get("environment_id") or envelope.resource_id or "")
        for watch in self.watches:
            if watch.environments is None or environment_id in watch.environments:
                watch.changed.set()

    def watch(self, environments: set[str] | None) -> Watch:
        found = Watch(environments)
        self.watches.add(found)
        return found

    def unwatch(self, watch: Watch) -> None:
        self.watches.discard(watch)


async def stream_statuses(
    hub: StatusHub,
    fetch: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[str], Awaitable[None]],
    environments: Callable[[dict[str, Any]], set[str]],
    *,
    coalesce: float,
    refresh: float,
) -> None:
    """Send `fetch()` now and whenever a watched environment changes (or every `refresh` seconds)."""
    watch = hub.watch(None)  # until the first answer names them, any change may concern us
    last: str | None = None
    try:
        while True:
            watch.changed.clear()
            body = await fetch()
            watch.environments = environments(body)
            frame = json.dumps(body, separators=(",", ":"))
            if frame != last:
                await send(frame)
                last = frame
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.changed.wait(), refresh)
                await asyncio.sleep(coalesce)  # let the rest of a burst arrive, then fetch once
    finally:
        hub.unwatch(watch)
