"""Runs deployed CRON jobs at their fire times: due schedules are claimed (SKIP LOCKED), advanced, and run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from deployer.clients import UpstreamError
from deployer.models import CronSchedule
from deployer.runtime.base import RolloutFailed, RuntimeDriver
from slipway import cron
from slipway.db import Database
from slipway.desired import DesiredState, ServiceSpec
from slipway.timeutil import utcnow

log = logging.getLogger("deployer.scheduler")


@dataclass(frozen=True)
class Run:
    service_id: str
    environment_id: str
    name: str
    image: str
    run_id: str


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
    deployers never run one twice), their next fire time is set after now (missed fire times are not replayed:
    at most one catch-up run), and each is run unless its previous run still goes on (concurrency policy Forbid:
    skipped and logged). A run marked by a process that died is considered over after `stale_seconds`."""

    def __init__(
        self,
        db: Database,
        desired_state: Callable[[str], Awaitable[DesiredState]],
        driver_for: Callable[[DesiredState], RuntimeDriver],
        *,
        tick_seconds: float = 10.0,
        stale_seconds: float = 3900.0,
    ) -> None:
        self.db = db
        self.desired_state = desired_state
        self.driver_for = driver_for
        self.tick_seconds = tick_seconds
        self.stale_seconds = stale_seconds
        self.runs: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="deployer-cron")

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self.runs.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_runs(self) -> None:
        """Wait for the runs in progress in this process to end."""
        await asyncio.gather(*list(self.runs.values()), return_exceptions=True)

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
        """Claim the schedules due at `now` and start their runs; answers the service ids started."""
        started: list[Run] = []
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
                busy = sid in self.runs and not self.runs[sid].done()
                alive = row.run_started_at is not None and now - row.run_started_at < timedelta(
                    seconds=self.stale_seconds
                )
                if busy or (row.running is not None and alive):
                    log.warning(
                        "%s: the previous run (%s) is still running: this run is skipped", row.name, row.running
                    )
                    continue
                run = Run(
                    sid, str(row.environment_id), row.name, row.image, f"{row.execution_id}-cron-{uuid.uuid4().hex[:8]}"
                )
                row.running, row.run_started_at = run.run_id, now
                row.last_run_at, row.last_status = now, "RUNNING"
                started.append(run)
        for run in started:
            self.runs[run.service_id] = asyncio.create_task(self._run(run), name=f"cron-{run.service_id}")
        return [run.service_id for run in started]

    async def _run(self, run: Run) -> None:
        status = "FAILED"

        async def sink(line: str) -> None:
            log.info("%s", line, extra={"service_id": run.service_id, "run_id": run.run_id})

        try:
            await sink(f"{run.name}: cron run {run.run_id} of {run.image}")
            try:
                state = await self.desired_state(run.environment_id)
            except UpstreamError as exc:
                log.warning("%s: cannot read its environment: %s", run.name, exc.detail)
                return
            service = state.service(run.service_id)
            if service is None or service.job is None:
                log.warning("%s: no longer a job of its environment: not run", run.name)
                return
            await self.driver_for(state).apply(state, cron_command(service), run.image, run.run_id, sink)
            status = "SUCCEEDED"
        except RolloutFailed as exc:
            log.warning("%s: cron run %s failed: %s", run.name, run.run_id, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one run's failure is recorded, never raised
            log.exception("cron run %s crashed", run.run_id)
        finally:
            with contextlib.suppress(Exception):
                await self._finish(run, status)
            if self.runs.get(run.service_id) is asyncio.current_task():
                del self.runs[run.service_id]

    async def _finish(self, run: Run, status: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(CronSchedule)
                .where(CronSchedule.service_id == uuid.UUID(run.service_id), CronSchedule.running == run.run_id)
                .values(running=None, last_status=status, updated_at=utcnow())
            )
        log.info("%s: cron run %s %s", run.name, run.run_id, status.lower())
