"""The cron scheduler on real Postgres: a due schedule queues one forceEvent=CRON deployment, Forbid, time zones."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

import deployer
from deployer import schedules
from deployer.models import CronSchedule, Deployment
from deployer.scheduler import TRIGGER, Scheduler
from slipway.db import Database
from slipway.migrations import upgrade_async

MIGRATIONS = Path(deployer.__file__).parent / "migrations"
NOW = datetime(2026, 11, 27, 10, 7, 30, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(MIGRATIONS, database_url, "deployer")
    database = Database(database_url)
    yield database
    await database.dispose()


class World:
    """Schedules written as a deployment writes them, and the deployments the scheduler queues."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pokes = 0
        self.scheduler = Scheduler(db, self.poke, tick_seconds=3600)
        self.environments: dict[str, uuid.UUID] = {}

    def poke(self) -> None:
        self.pokes += 1

    async def schedule(self, next_run_at: datetime, cron: str = "*/5 * * * *", timezone: str = "Etc/UTC") -> str:
        sid, env = str(uuid.uuid4()), uuid.uuid4()
        self.environments[sid] = env
        dep = Deployment(organization_id=uuid.uuid4(), project_id=uuid.uuid4(), environment_id=env, number=1)
        await schedules.upsert(self.db, dep, sid, f"cron-{sid[:6]}", cron, timezone, "img:1", next_run_at)
        return sid

    async def row(self, sid: str) -> CronSchedule | None:
        async with self.db.transaction() as session:
            return await session.get(CronSchedule, uuid.UUID(sid))

    async def runs(self, sid: str) -> list[Deployment]:
        async with self.db.transaction() as session:
            found = await session.scalars(
                select(Deployment)
                .where(Deployment.environment_id == self.environments[sid])
                .order_by(Deployment.number)
            )
            return list(found)

    async def finish(self, sid: str, execution_id: str, phase: str = "DONE") -> None:
        (dep,) = [d for d in await self.runs(sid) if d.execution_id == execution_id]
        async with self.db.transaction() as session:
            await session.execute(update(Deployment).where(Deployment.id == dep.id).values(phase=phase))


@pytest.fixture
async def world(db: Database) -> AsyncIterator[World]:
    w = World(db)
    yield w
    await w.scheduler.stop()


async def test_a_due_schedule_queues_one_cron_run_and_advances(world: World) -> None:
    sid = await world.schedule(NOW - timedelta(hours=3))  # missed fire times are not replayed: one run
    (queued,) = await world.scheduler.tick(NOW)
    (run,) = await world.runs(sid)
    assert (run.execution_id, run.action, run.force_event, run.service_ids) == (queued, "DEPLOY", "CRON", [sid])
    assert (run.phase, run.origin, run.triggered_by) == ("QUEUED", "QOVERY_INTERNAL", TRIGGER)
    assert world.pokes == 1  # the worker looks at the queue now
    row = await world.row(sid)
    assert row is not None and (row.running, row.last_run_at, row.last_status) == (queued, NOW, "QUEUED")
    assert row.next_run_at == datetime(2026, 11, 27, 10, 10, tzinfo=UTC)  # the next */5 minute after now
    assert await world.scheduler.tick(NOW) == []  # nothing due any more at the same instant


async def test_the_schedule_is_evaluated_in_its_time_zone(world: World) -> None:
    sid = await world.schedule(NOW - timedelta(minutes=1), cron="30 9 * * *", timezone="Europe/Paris")
    assert len(await world.scheduler.tick(NOW)) == 1
    row = await world.row(sid)
    assert row is not None and row.next_run_at == datetime(2026, 11, 28, 8, 30, tzinfo=UTC)  # 09:30 CET


async def test_a_run_not_over_makes_the_next_fire_skipped_then_the_one_after_runs(world: World) -> None:
    sid = await world.schedule(NOW)
    (first,) = await world.scheduler.tick(NOW)
    await world.finish(sid, first, "RUNNING")  # the worker took it (a lease: a dead deployer's run is taken over)
    later = NOW + timedelta(minutes=5)
    assert await world.scheduler.tick(later) == []  # Forbid: skipped, not queued behind it
    row = await world.row(sid)
    assert row is not None and row.next_run_at == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)  # advanced past it
    assert len(await world.runs(sid)) == 1
    await world.finish(sid, first)
    (second,) = await world.scheduler.tick(later + timedelta(minutes=5))
    runs = await world.runs(sid)
    assert [r.execution_id for r in runs] == [first, second] and runs[1].number == 2


async def test_two_schedulers_never_fire_a_schedule_twice(world: World, db: Database) -> None:
    sid = await world.schedule(NOW)
    other = Scheduler(db, tick_seconds=3600)
    first, second = await asyncio.gather(world.scheduler.tick(NOW), other.tick(NOW))
    assert len(first + second) == 1 and len(await world.runs(sid)) == 1


async def test_dropped_schedules_do_not_run(world: World) -> None:
    stopped, deleted = await world.schedule(NOW), await world.schedule(NOW)
    await schedules.drop(world.db, stopped)
    await schedules.drop_environment(world.db, str(world.environments[deleted]))
    assert await world.scheduler.tick(NOW) == []
    assert await world.row(stopped) is None and await world.row(deleted) is None
