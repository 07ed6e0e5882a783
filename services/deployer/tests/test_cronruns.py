"""Kubernetes CronJob runs written to the history on real Postgres: whole at once, once, secrets masked."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import select

from deployer.cronruns import CronRuns
from deployer.models import Deployment, ServiceState
from deployer.runtime.kubernetes.jobs import CronRun
from deployer.store import Store
from slipway.db import Database
from slipway.desired import ClusterTarget, DesiredState, ServiceSpec

from .test_queue import db  # noqa: F401  (fixture)

SECRET = "hunter2-" + uuid.uuid4().hex[:8]


class HeldNats:
    """NATS whose publishes wait until released: the moment a run's log lines are on their way."""

    def __init__(self) -> None:
        self.publishing, self.release = asyncio.Event(), asyncio.Event()
        self.lines: list[dict[str, Any]] = []

    @property
    def js(self) -> HeldNats:
        return self

    async def publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.publishing.set()
        await self.release.wait()
        self.lines.append(json.loads(data))


class Cluster:
    """A driver's cron-run side: the finished runs until each is marked recorded."""

    def __init__(self, *runs: CronRun) -> None:
        self.runs = list(runs)

    async def finished_cron_runs(self) -> list[CronRun]:
        return list(self.runs)

    async def mark_cron_run_recorded(self, run: CronRun) -> None:
        self.runs.remove(run)


def environment() -> DesiredState:
    job = ServiceSpec(
        id=str(uuid.uuid4()), kind="JOB", name="tick", internal_host="tick", host_slug="tick",
        env={"TOKEN": SECRET}, secret_keys=["TOKEN"],
    )  # fmt: skip
    return DesiredState(
        organization_id=str(uuid.uuid4()), project_id=str(uuid.uuid4()), environment_id=str(uuid.uuid4()),
        environment_name="prod", environment_mode="PRODUCTION", stages=[], services=[job],
        cluster=ClusterTarget(id="c1", engine="kubernetes", base_domain="example.test"),
    )  # fmt: skip


async def history(database: Database, state: DesiredState) -> list[Deployment]:
    async with database.transaction() as session:
        env = uuid.UUID(state.environment_id)
        return list(await session.scalars(select(Deployment).where(Deployment.environment_id == env)))


async def test_a_run_enters_the_history_whole_after_its_log_lines_and_only_once(db: Database) -> None:  # noqa: F811
    state = environment()
    job = state.services[0]

    async def desired(environment_id: str) -> DesiredState:
        assert environment_id == state.environment_id
        return state

    ok = CronRun("ns", "tick-1", state.environment_id, job.id, True, "", "done")
    failed = CronRun("ns", "tick-2", state.environment_id, job.id, False, f"exit 3 with {SECRET}", "")
    nats = HeldNats()
    runs = CronRuns(db, Store(db), nats, desired)
    cluster = Cluster(ok, failed)
    recording = asyncio.create_task(runs.record([cluster]))
    await asyncio.wait_for(nats.publishing.wait(), 10)
    # its log lines are on their way: the history does not show the run yet (never DEPLOYING for a while)
    assert await history(db, state) == []
    nats.release.set()
    written = await asyncio.wait_for(recording, 10)
    assert len(written) == 2 and cluster.runs == []
    seen = next(d for d in await history(db, state) if d.execution_id == written[0])
    assert (seen.status, seen.phase, seen.force_event) == ("DEPLOYED", "DONE", "CRON")
    assert seen.origin == "QOVERY_INTERNAL" and seen.triggered_by == "CronJob run tick-1"
    assert seen.started_at is not None and seen.finished_at is not None

    deployments = {d.triggered_by: d for d in await history(db, state)}
    bad = deployments["CronJob run tick-2"]
    assert bad.status == "DEPLOYMENT_ERROR" and bad.error is not None
    assert SECRET not in bad.error and "exit 3" in bad.error
    async with db.transaction() as session:
        current = await session.get(ServiceState, uuid.UUID(job.id))
    assert current is not None and current.state == "DEPLOYMENT_ERROR"
    assert SECRET not in json.dumps(nats.lines) and any("done" in line["message"] for line in nats.lines)

    # a run met again (its label was not written: the deployer died in between) is not written twice
    cluster.runs.append(ok)
    assert await runs.record([cluster]) == [] and cluster.runs == []
    assert len(await history(db, state)) == 2
