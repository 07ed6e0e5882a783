"""The cron scheduler on real Postgres and the real engine (Podman): due schedules run once, Forbid, drops."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from sqlalchemy import text

import deployer
from deployer import schedules
from deployer.models import CronSchedule, Deployment
from deployer.runtime import spec as S
from deployer.runtime.docker import DockerEngineDriver
from deployer.scheduler import Scheduler
from slipway.db import Database
from slipway.desired import ClusterTarget, DesiredState, JobSchedule, ServiceSpec
from slipway.migrations import upgrade_async
from slipway_stack.engine import BASE_IMAGE
from slipway_stack.testing import wait_until

MIGRATIONS = Path(deployer.__file__).parent / "migrations"
TEST_LABEL = "slipway.test"
TEST_VALUE = "deployer-cron"
NOW = datetime(2026, 11, 27, 10, 7, 30, tzinfo=UTC)
# waits for a file the test creates with `docker exec`, then finishes
GATED = "while [ ! -f /tmp/go ]; do sleep 0.1; done; echo released"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade_async(MIGRATIONS, database_url, "deployer")
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def driver(engine) -> AsyncIterator[DockerEngineDriver]:  # type: ignore[no-untyped-def]
    drv = DockerEngineDriver(engine.host, None, extra_labels={TEST_LABEL: TEST_VALUE})
    yield drv
    for svc in await drv.list_services():
        await drv.delete_environment(svc.environment_id)
    await drv.close()


@pytest.fixture
async def docker(engine) -> AsyncIterator[aiodocker.Docker]:  # type: ignore[no-untyped-def]
    client = aiodocker.Docker(url=engine.host)
    yield client
    await client.close()


class World:
    """Environments as catalog would answer them, and schedules written as a deployment writes them."""

    def __init__(self, db: Database, driver: DockerEngineDriver) -> None:
        self.db = db
        self.states: dict[str, DesiredState] = {}
        self.scheduler = Scheduler(db, self.desired_state, lambda _: driver, tick_seconds=3600)

    async def desired_state(self, environment_id: str) -> DesiredState:
        return self.states[environment_id]

    def job(self, command: str, cron: str = "*/5 * * * *", timezone: str = "Etc/UTC") -> ServiceSpec:
        sid = str(uuid.uuid4())
        svc = ServiceSpec(
            id=sid,
            kind="JOB",
            name=f"cron-{sid[:6]}",
            internal_host=f"cron-{sid[:8]}",
            host_slug=f"cron-{sid[:8]}",
            memory=32,
            job=JobSchedule(kind="CRON", cron=cron, timezone=timezone, arguments=["sh", "-c", command]),
        )
        env = str(uuid.uuid4())
        self.states[env] = DesiredState(
            organization_id=str(uuid.uuid4()),
            project_id=str(uuid.uuid4()),
            environment_id=env,
            environment_name="cron-test",
            environment_mode="DEVELOPMENT",
            cluster=ClusterTarget(id="c1", engine="podman", base_domain="slipway.localhost"),
            stages=[],
            services=[svc],
        )
        return svc

    def environment_of(self, svc: ServiceSpec) -> str:
        return next(env for env, state in self.states.items() if state.service(svc.id) is not None)

    async def schedule(self, svc: ServiceSpec, next_run_at: datetime) -> None:
        state = self.states[self.environment_of(svc)]
        dep = Deployment(
            organization_id=uuid.UUID(state.organization_id),
            project_id=uuid.UUID(state.project_id),
            environment_id=uuid.UUID(state.environment_id),
            number=1,
        )
        assert svc.job is not None and svc.job.cron is not None
        await schedules.upsert(self.db, dep, svc.id, svc.name, svc.job.cron, svc.job.timezone, BASE_IMAGE, next_run_at)

    async def row(self, svc: ServiceSpec) -> CronSchedule | None:
        async with self.db.transaction() as session:
            return await session.get(CronSchedule, uuid.UUID(svc.id))


@pytest.fixture
async def world(db: Database, driver: DockerEngineDriver) -> AsyncIterator[World]:
    w = World(db, driver)
    yield w
    await w.scheduler.stop()


async def output(driver: DockerEngineDriver, env: str, svc: ServiceSpec) -> list[str]:
    return [x.message async for x in driver.follow_logs(env, svc.id, follow=False)]


async def test_a_due_schedule_runs_once_to_completion_and_advances(world: World, driver: DockerEngineDriver) -> None:
    svc = world.job("echo cron-ran")
    await world.schedule(svc, NOW - timedelta(hours=3))  # missed fire times are not replayed: one run
    assert await world.scheduler.tick(NOW) == [svc.id]
    await world.scheduler.wait_runs()
    row = await world.row(svc)
    assert row is not None
    assert (row.last_status, row.running, row.last_run_at) == ("SUCCEEDED", None, NOW)
    assert row.next_run_at == datetime(2026, 11, 27, 10, 10, tzinfo=UTC)  # the next */5 minute after now
    assert row.execution_id.endswith("-1")
    assert await output(driver, world.environment_of(svc), svc) == ["cron-ran"]
    assert await world.scheduler.tick(NOW) == []  # nothing due any more at the same instant
    (status,) = await driver.status(world.environment_of(svc))
    assert status.state == "COMPLETED"


async def test_the_schedule_is_evaluated_in_its_time_zone(world: World) -> None:
    svc = world.job("echo paris", cron="30 9 * * *", timezone="Europe/Paris")
    await world.schedule(svc, NOW - timedelta(minutes=1))
    assert await world.scheduler.tick(NOW) == [svc.id]
    await world.scheduler.wait_runs()
    row = await world.row(svc)
    assert row is not None and row.last_status == "SUCCEEDED"
    assert row.next_run_at == datetime(2026, 11, 28, 8, 30, tzinfo=UTC)  # 09:30 CET


async def test_a_failing_run_is_recorded(world: World) -> None:
    svc = world.job("echo boom >&2; exit 3")
    await world.schedule(svc, NOW)
    assert await world.scheduler.tick(NOW) == [svc.id]
    await world.scheduler.wait_runs()
    row = await world.row(svc)
    assert row is not None and (row.last_status, row.running) == ("FAILED", None)


async def test_a_run_still_running_makes_the_next_one_skipped(world: World, docker: aiodocker.Docker) -> None:
    svc = world.job(GATED)
    await world.schedule(svc, NOW)
    assert await world.scheduler.tick(NOW) == [svc.id]
    filters = json.dumps({"label": [f"{S.L_SERVICE}={svc.id}"], "status": ["running"]})

    async def running() -> list[Any]:
        return list(await docker.containers.list(filters=filters))

    await wait_until(running, timeout=60, message="the job container running")
    later = NOW + timedelta(minutes=5)
    assert await world.scheduler.tick(later) == []  # Forbid: skipped, not queued
    row = await world.row(svc)
    assert row is not None and row.last_status == "RUNNING" and row.last_run_at == NOW
    assert row.next_run_at == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)  # advanced past the skipped one
    (container,) = await running()
    await (await container.exec(["/bin/sh", "-c", ": > /tmp/go"])).start(detach=True)
    await world.scheduler.wait_runs()
    row = await world.row(svc)
    assert row is not None and (row.last_status, row.running) == ("SUCCEEDED", None)


async def test_a_run_marked_by_another_deployer_is_skipped_until_stale(world: World, db: Database) -> None:
    svc = world.job("echo after-stale")
    await world.schedule(svc, NOW)
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE deployer.cron_schedules SET running = 'elsewhere', run_started_at = :t WHERE service_id = :s"),
            {"t": NOW - timedelta(minutes=10), "s": uuid.UUID(svc.id)},
        )
    assert await world.scheduler.tick(NOW) == []
    later = NOW + timedelta(hours=2)  # past stale_seconds: that deployer died mid-run
    assert await world.scheduler.tick(later) == [svc.id]
    await world.scheduler.wait_runs()
    row = await world.row(svc)
    assert row is not None and (row.last_status, row.running) == ("SUCCEEDED", None)


async def test_two_schedulers_never_run_a_schedule_twice(
    world: World, db: Database, driver: DockerEngineDriver
) -> None:
    import asyncio

    svc = world.job("echo once")
    await world.schedule(svc, NOW)
    other = Scheduler(db, world.desired_state, lambda _: driver, tick_seconds=3600)
    try:
        first, second = await asyncio.gather(world.scheduler.tick(NOW), other.tick(NOW))
        assert sorted(first + second) == [svc.id]
        await world.scheduler.wait_runs()
        await other.wait_runs()
    finally:
        await other.stop()


async def test_dropped_schedules_do_not_run(world: World) -> None:
    stopped, deleted = world.job("echo stopped"), world.job("echo deleted")
    for svc in (stopped, deleted):
        await world.schedule(svc, NOW)
    await schedules.drop(world.db, stopped.id)
    await schedules.drop_environment(world.db, world.environment_of(deleted))
    assert await world.scheduler.tick(NOW) == []
    assert await world.row(stopped) is None and await world.row(deleted) is None
