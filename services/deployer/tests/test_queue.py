"""The per-environment queue on real Postgres: one action at a time per environment, order, leases, take-over."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

import deployer
from deployer import repository
from deployer.models import Deployment
from deployer.queue import enqueue
from deployer.worker import Worker
from slipway.db import Database
from slipway.errors import Conflict
from slipway.migrations import upgrade_async
from slipway_stack.testing import wait_until

MIGRATIONS = Path(deployer.__file__).parent / "migrations"


@pytest.fixture
async def db(database_url: str) -> Any:
    await upgrade_async(MIGRATIONS, database_url, "deployer")
    database = Database(database_url)
    yield database
    await database.dispose()


def scope(env: uuid.UUID) -> dict[str, str]:
    return {"organization_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "environment_id": str(env)}


async def queue(db: Database, env: uuid.UUID, action: str = "DEPLOY", ids: list[str] | None = None) -> Deployment:
    async with db.transaction() as session:
        return await enqueue(session, scope(env), action, ids)


async def finish(db: Database, dep_id: uuid.UUID) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE deployer.deployments SET phase='DONE', status='DEPLOYED' WHERE id=:i"), {"i": dep_id}
        )


async def test_numbers_and_identical_requests(db: Database) -> None:
    env = uuid.uuid4()
    first = await queue(db, env)
    second = await queue(db, env, "STOP")
    assert (first.number, second.number) == (1, 2)
    assert second.execution_id == f"{env}-2"
    with pytest.raises(Conflict):
        await queue(db, env, "STOP")  # the same action already waits
    other = await queue(db, uuid.uuid4())
    assert other.number == 1  # numbering is per environment


async def test_one_action_at_a_time_per_environment_in_order(db: Database) -> None:
    env_a, env_b = uuid.uuid4(), uuid.uuid4()
    a1, a2 = await queue(db, env_a), await queue(db, env_a, "STOP")
    b1 = await queue(db, env_b)
    started: list[uuid.UUID] = []
    release: dict[uuid.UUID, asyncio.Event] = {d.id: asyncio.Event() for d in (a1, a2, b1)}

    async def run(dep: Deployment) -> None:
        started.append(dep.id)
        await release[dep.id].wait()
        await finish(db, dep.id)

    worker = Worker(db, run, max_parallel=4, lease_seconds=5, poll_seconds=0.1)
    await worker.start()
    try:
        await wait_until(lambda: len(started) == 2, timeout=10)
        assert set(started) == {a1.id, b1.id}  # two environments in parallel, a2 waits behind a1
        await asyncio.sleep(0.5)
        assert a2.id not in started
        release[a1.id].set()
        await wait_until(lambda: a2.id in started, timeout=10)
        release[a2.id].set()
        release[b1.id].set()
        await wait_until(lambda: not worker.running, timeout=10)
    finally:
        await worker.stop()


async def test_an_expired_lease_is_taken_over_and_run_again(db: Database) -> None:
    env = uuid.uuid4()
    dep = await queue(db, env)
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE deployer.deployments SET phase='RUNNING', lease_owner='elsewhere:1:x', "
                "lease_expires_at=now() + interval '1 second', attempts=1 WHERE id=:i"
            ),
            {"i": dep.id},
        )
    ran: list[int] = []

    async def run(d: Deployment) -> None:
        ran.append(d.attempts)
        await finish(db, d.id)

    worker = Worker(db, run, lease_seconds=5, poll_seconds=0.1)
    await worker.start()
    try:
        await wait_until(lambda: ran, timeout=10)
        assert ran == [2]  # the second attempt, by the new owner
    finally:
        await worker.stop()


async def test_a_dead_deployer_of_this_host_is_taken_over_at_start(db: Database) -> None:
    import socket

    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()  # a pid that no longer runs
    dep = await queue(db, uuid.uuid4())
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE deployer.deployments SET phase='RUNNING', lease_owner=:o, "
                "lease_expires_at=now() + interval '1 hour' WHERE id=:i"
            ),
            {"i": dep.id, "o": f"{socket.gethostname()}:{dead.pid}:x"},
        )
    ran: list[uuid.UUID] = []

    async def run(d: Deployment) -> None:
        ran.append(d.id)
        await finish(db, d.id)

    worker = Worker(db, run, lease_seconds=30, poll_seconds=0.1)
    await worker.start()
    try:
        await wait_until(lambda: ran == [dep.id], timeout=10)
    finally:
        await worker.stop()


async def test_a_crashing_run_fails_the_deployment_cleanly(db: Database) -> None:
    dep = await queue(db, uuid.uuid4())

    async def run(d: Deployment) -> None:
        raise RuntimeError("boom")

    worker = Worker(db, run, lease_seconds=5, poll_seconds=0.1)
    await worker.start()
    try:

        async def failed() -> bool:
            async with db.transaction() as session:
                found = await session.scalar(select(Deployment).where(Deployment.id == dep.id))
                return found is not None and found.phase == "DONE" and found.status == "DEPLOYMENT_ERROR"

        await wait_until(failed, timeout=10)
    finally:
        await worker.stop()


async def test_live_environments_are_those_whose_latest_action_is_not_an_uninstall(db: Database) -> None:
    deleted, running, redeployed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for env, actions in (
        (deleted, ["DEPLOY", "DELETE"]),
        (running, ["DEPLOY", "STOP"]),
        (redeployed, ["DELETE", "DEPLOY"]),
    ):
        for action in actions:
            await finish(db, (await queue(db, env, action)).id)
    async with db.transaction() as session:
        live = set(await repository.live_environments(session))
    assert {str(running), str(redeployed)} <= live and str(deleted) not in live
