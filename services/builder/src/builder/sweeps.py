"""A deleted service's images leave the build engine once its uninstall is over, tried until none is left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from builder.engine import Engine
from builder.models import UNFINISHED, Build, ImageSweep
from slipway.contracts import Subjects
from slipway.db import Database
from slipway.events import Envelope, Subscription
from slipway.tasks import cancel_and_wait

log = logging.getLogger("builder.sweeps")


class ImageSweeper:
    """Removes every name the builder gave a deleted service's images (local and registry-qualified) once the
    deployer has uninstalled it (its ON_DELETE job ran from one of them). Never forced: an image a container
    still uses (another engine's leftover, a run not removed yet) stays until a later pass."""

    def __init__(self, engine: Engine, every_seconds: float) -> None:
        self.engine = engine
        self._db: Database | None = None
        self.every_seconds = every_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscriptions(self) -> list[Subscription]:
        async def services_forgotten(session: AsyncSession, envelope: Envelope) -> None:
            payload: dict[str, Any] = envelope.payload
            rows = [
                {"service_id": str(s), "organization_id": str(envelope.organization_id), "attempts": 0}
                for s in payload.get("service_ids") or []
            ]
            if rows:
                await session.execute(insert(ImageSweep).values(rows).on_conflict_do_nothing())
                event.listen(session.sync_session, "after_commit", lambda _: self._wake.set(), once=True)

        return [Subscription(Subjects.DEPLOYER_SERVICES_FORGOTTEN, services_forgotten)]

    @property
    def db(self) -> Database:
        assert self._db is not None, "start() first"
        return self._db

    async def start(self, db: Database) -> None:
        self._db = db
        self._task = asyncio.create_task(self._run(), name="image-sweeper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every_seconds)
            self._wake.clear()
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the database or the engine may be briefly away: next pass
                log.exception("image sweep failed")

    async def sweep(self) -> dict[str, list[str]]:
        """One pass over the pending services; answers service id → the names still left (none: row dropped)."""
        async with self.db.transaction() as session:
            pending = list((await session.scalars(select(ImageSweep.service_id))).all())
        return {service_id: await self._one(service_id) for service_id in pending}

    async def _one(self, service_id: str) -> list[str]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(Build.local_image, Build.image, Build.status).where(Build.service_id == service_id)
            )
            names: set[str] = set()
            building = False
            for local_image, image, status in rows:
                names.update(n for n in (local_image, image) if n)
                building = building or status in UNFINISHED
        left: list[str] = []
        error = "a build is still running"
        for name in sorted(names):
            try:
                if not await self.engine.untag(name):
                    left.append(name)
                    error = f"{name} is still used by a container"
            except Exception as exc:  # noqa: BLE001 - the engine may be briefly away: kept for the next pass
                left.append(name)
                error = f"{name}: {exc}"
        async with self.db.transaction() as session:
            if left or building:  # a build still running makes one more image: wait for it
                await session.execute(
                    update(ImageSweep)
                    .where(ImageSweep.service_id == service_id)
                    .values(attempts=ImageSweep.attempts + 1, last_error=error)
                )
            else:
                await session.execute(delete(ImageSweep).where(ImageSweep.service_id == service_id))
        if names and not left:
            log.info("removed %d image name(s) of deleted service %s", len(names), service_id)
        return left
