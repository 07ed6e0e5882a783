"""NATS connection owned by a service lifespan: retries until reachable, declares the JetStream streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from slipway.tasks import cancel_and_wait

log = logging.getLogger("slipway.nats")

# Streams every Slipway process may publish to; declared idempotently by whoever connects first.
STREAMS: tuple[StreamConfig, ...] = (
    StreamConfig(name="SLIPWAY_EVENTS", subjects=["evt.>"], duplicate_window=300.0, max_age=7 * 86400.0),
    StreamConfig(name="SLIPWAY_COMMANDS", subjects=["cmd.>"], duplicate_window=300.0, max_age=7 * 86400.0),
    StreamConfig(name="SLIPWAY_DEPLOYLOGS", subjects=["deploylogs.>"], duplicate_window=120.0, max_age=2 * 86400.0),
)


async def ensure_streams(js: JetStreamContext, streams: tuple[StreamConfig, ...] = STREAMS) -> None:
    for config in streams:
        try:
            await js.add_stream(config=config)
        except BadRequestError:
            await js.update_stream(config=config)


async def release(subscription: Any) -> None:
    """Unsubscribe a pull subscription that is being replaced or stopped (its inbox and client-side queue go with
    it); a connection already gone has nothing left to release."""
    if subscription is not None:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()


class NatsConnection:
    """Connects in the background so a service boots (and reports not-ready) while NATS is down."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name=f"nats-connect-{self.name}")

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                nc = await nats.connect(
                    self.url,
                    name=self.name,
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect,
                )
                js = nc.jetstream(timeout=5)
                await ensure_streams(js)
                self.nc, self.js = nc, js
                self._connected.set()
                log.info("connected to NATS", extra={"nats_url": self.url})
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
                log.warning("NATS not reachable yet: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS client error: %s", exc)

    async def _on_disconnect(self) -> None:
        log.warning("disconnected from NATS")

    async def _on_reconnect(self) -> None:
        log.info("reconnected to NATS")

    async def wait_connected(self, timeout: float | None = None) -> JetStreamContext:
        await asyncio.wait_for(self._connected.wait(), timeout)
        assert self.js is not None
        return self.js

    async def ping(self, timeout: float = 2.0) -> None:
        if self.nc is None or not self.nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await self.nc.flush(timeout=max(1, int(timeout)))

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        if self.nc is not None and not self.nc.is_closed:
            # Not drain(): a subscription whose fetch was cancelled with a message queued never finishes draining,
            # so every shutdown waited out the timeout (5 s) and logged the cancelled drain as an error. Nothing
            # here needs one: JetStream messages not acked are redelivered, and a flush is enough for what was
            # published to have reached the server.
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
            await self.nc.close()
