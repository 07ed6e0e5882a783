"""The catalog's periodic work, started with the service: the preview sweeper, the Git reporter, the schedules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from catalog.environment.schedule import run_tick
from catalog.previews import reports
from catalog.previews.sweeper import sweep
from catalog.settings import CatalogSettings
from slipway.crypto import keyring_from
from slipway.tasks import cancel_and_wait

log = logging.getLogger("catalog.background")


async def _every(name: str, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the database or a provider may be briefly away: next time
            log.exception("%s failed", name)


def hooks(
    settings: CatalogSettings,
) -> tuple[Callable[[FastAPI], Awaitable[None]], Callable[[FastAPI], Awaitable[None]]]:
    async def start(app: FastAPI) -> None:
        db, keys = app.state.db, keyring_from(settings)

        async def swept() -> None:
            done = await sweep(db, keys)
            if done["closed"] or done["deleted"] or done["failed"]:
                log.info("preview sweep: %s", done)

        app.state.background = [
            asyncio.create_task(_every("preview sweep", settings.preview_sweep_seconds, swept), name="previews"),
            asyncio.create_task(
                _every("git reports", settings.git_report_seconds, lambda: reports.send_due(db, keys, settings)),
                name="git-reports",
            ),
            asyncio.create_task(_every("schedules", settings.schedule_seconds, lambda: run_tick(db)), name="schedules"),
        ]

    async def stop(app: FastAPI) -> None:
        tasks = getattr(app.state, "background", [])
        await cancel_and_wait(tasks)

    return start, stop
