"""Fires deployed CRON jobs (docker engine): each due schedule becomes a deployment of its job, forceEvent=CRON."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from deployer import queue
from deployer.models import CronSchedule, Deployment
from slipway import cron
from slipway.db import Database
from slipway.desired import ServiceSpec
from slipway.errors import Conflict
from slipway.tasks import cancel_and_wait
from slipway.timeutil import utcnow

log = logging.getLogger("deployer.scheduler")
TRIGGER = "cron schedule"


def cron_command(service: ServiceSpec) -> ServiceSpec:
    """A CRON job as it runs: its schedule's arguments and entrypoint when it has them."""
    job = service.job
    if job is None:
        return service
    return service.model_copy(
        update={"arguments": job.arguments or service.arguments, "entrypoint": job.entrypoint or service.entrypoint}
    )


class Scheduler:
    """Every `tick_seconds`: due schedules are claimed in one transaction with `FOR UPDATE SKIP LOCKED` (several
    deployers never fire one twice) and their next fire time is set after now (missed fire times are not replayed:
    at most one catch-up run). Each fire queues a deployment of the job with forceEvent=CRON in its environment's
    queue, so a run is in the deployment history and statuses with its outcome and output, runs under a lease
    (a deployer that dies mid-run is taken over like any deployment), and runs the job's current version.
    Concurrency policy Forbid: while a run of the job is queued or running, a fire is skipped and logged."""

    def __init__(self, db: Database, poke: Callable[[], None] | None = None, *, tick_seconds: float = 10.0) -> None:
        self.db = db
        self.poke = poke
        self.tick_seconds = tick_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="deployer-cron")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick(utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be briefly away; try at the next tick
                log.exception("cron tick failed")
            await asyncio.sleep(self.tick_seconds)

    async def tick(self, now: datetime) -> list[str]:
        """Queue a run of every schedule due at `now`; answers the execution ids queued."""
        queued: list[str] = []
        async with self.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(CronSchedule)
                    .where(CronSchedule.next_run_at <= now)
                    .order_by(CronSchedule.next_run_at)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                sid = str(row.service_id)
                try:
                    row.next_run_at = cron.next_after(row.cron, now, row.timezone)
                except (ValueError, KeyError) as exc:  # validated at deploy: only a time zone database change
                    log.error("cron schedule of %s unusable (%s): retried in a day", sid, exc)
                    row.next_run_at = now + timedelta(days=1)
                    continue
                row.updated_at = utcnow()
                previous = await self._in_progress(session, row)
                if previous is not None:
                    log.warning("%s: its previous run (%s) is not over: this run is skipped", row.name, previous)
                    continue
                scope = {
                    "organization_id": str(row.organization_id),
                    "project_id": str(row.project_id),
                    "environment_id": str(row.environment_id),
                }
                try:
                    async with session.begin_nested():
                        dep = await queue.enqueue(
                            session, scope, "DEPLOY", [sid], origin="QOVERY_INTERNAL", triggered_by=TRIGGER,
                            force_event="CRON",
                        )  # fmt: skip
                except Conflict:  # an identical run was queued meanwhile
                    continue
                row.running, row.last_run_at, row.last_status = dep.execution_id, now, "QUEUED"
                queued.append(dep.execution_id)
                log.info("%s: cron run queued as %s", row.name, dep.execution_id)
        if queued and self.poke is not None:
            self.poke()
        return queued

    @staticmethod
    async def _in_progress(session, row: CronSchedule) -> str | None:  # type: ignore[no-untyped-def]
        """The execution id of a run of this job still queued or running, if any."""
        found = await session.scalar(
            select(Deployment)
            .where(
                Deployment.environment_id == row.environment_id,
                Deployment.force_event == "CRON",
                Deployment.phase.in_(("QUEUED", "RUNNING")),
                Deployment.service_ids.contains([str(row.service_id)]),
            )
            .limit(1)
        )
        return found.execution_id if found is not None else None
