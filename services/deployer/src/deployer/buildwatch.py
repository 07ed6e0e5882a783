"""Build outcomes as they happen: the builder's `evt.builder.build.*` events wake whoever waits for that build.

Each deployer process listens on core NATS (the events are also in JetStream for durable consumers; a live
subscriber sees them as they are published). A waiter also wakes after `fallback_seconds` and asks the builder
itself, so a missed event (a reconnect) costs seconds, never a stuck deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from slipway.contracts import Subjects
from slipway.tasks import cancel_and_wait

log = logging.getLogger("deployer.buildwatch")
SUBJECTS = (Subjects.BUILD_SUCCEEDED, Subjects.BUILD_FAILED, Subjects.BUILD_CANCELED)


class BuildWatch:
    def __init__(self, nats: Any) -> None:
        self.nats = nats
        self._waiting: dict[str, asyncio.Event] = {}
        self._finished: set[str] = set()  # ended before anyone waited (bounded)
        self._subs: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe once NATS is connected (in the background: start-up never waits for NATS)."""
        if self.nats is not None:
            self._task = asyncio.create_task(self._subscribe(), name="deployer-buildwatch")

    async def _subscribe(self) -> None:
        await self.nats.wait_connected()
        nc = self.nats.nc
        for subject in SUBJECTS:
            self._subs.append(await nc.subscribe(subject, cb=self._on_event))

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()

    async def _on_event(self, msg: Any) -> None:
        try:
            build_id = str(json.loads(msg.data)["resource_id"])
        except (ValueError, KeyError, TypeError):
            return
        self.ended(build_id)

    def ended(self, build_id: str) -> None:
        event = self._waiting.get(build_id)
        if event is not None:
            event.set()
            return
        if len(self._finished) > 4096:
            self._finished.clear()
        self._finished.add(build_id)

    async def wait(self, build_id: str, timeout: float) -> bool:
        """True once the build ended (its event arrived), False after `timeout` seconds without it."""
        if build_id in self._finished:
            return True
        event = self._waiting.setdefault(build_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def forget(self, build_id: str) -> None:
        self._waiting.pop(build_id, None)
        self._finished.discard(build_id)
