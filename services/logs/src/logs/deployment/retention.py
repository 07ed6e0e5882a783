"""Periodic retention: keep the lines of the last N executions of each environment."""

from __future__ import annotations

import asyncio
import logging

from logs.deployment import store
from slipway.db import Database
from slipway.tasks import cancel_and_wait

log = logging.getLogger("logs.deployment.retention")


class Pruner:
    def __init__(self, db: Database, keep: int, interval: float) -> None:
        self.db = db
        self.keep = keep
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deploylogs-retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                removed = await store.prune(self.db, self.keep)
                if removed:
                    log.info("deployment logs of %d old executions removed", removed)
            except Exception as exc:  # noqa: BLE001 - next round
                log.warning("deployment log retention failed: %s", exc)
