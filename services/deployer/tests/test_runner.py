"""The runner on real Postgres with the in-memory driver: stage order, a stage's services in parallel, a failed
stage cancels the next, cancel during a rollout, and an uninstall's ON_DELETE jobs before anything goes."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select, update

from deployer.models import Deployment, DeploymentService, ServiceState
from deployer.queue import enqueue
from deployer.runner import Runner
from deployer.store import Store
from slipway.db import Database
from slipway.desired import DesiredState
from slipway_stack.testing import wait_until

from .fakes import FakeCatalog, FakeDriver, container, environment, lifecycle_job
from .test_queue import db  # noqa: F401  (fixture)


async def queue(db: Database, state: DesiredState, action: str) -> Deployment:  # noqa: F811
    scope = {"organization_id": state.organization_id, "project_id": state.project_id,
             "environment_id": state.environment_id}  # fmt: skip
    async with db.transaction() as session:
        return await enqueue(session, scope, action, None)


def runner(db: Database, state: DesiredState, driver: FakeDriver) -> Runner:  # noqa: F811
    driver.names = {s.id: s.name for s in state.services}
    return Runner(Store(db), FakeCatalog(state), None, lambda _: driver, None)  # type: ignore[arg-type]


async def outcome(db: Database, dep: Deployment) -> tuple[str, dict[str, str]]:  # noqa: F811
    async with db.transaction() as session:
        status = await session.scalar(select(Deployment.status).where(Deployment.id == dep.id))
        parts = await session.scalars(select(DeploymentService).where(DeploymentService.deployment_id == dep.id))
        return str(status), {p.name: p.state for p in parts}


async def deploy(db: Database, state: DesiredState, driver: FakeDriver) -> tuple[str, dict[str, str]]:  # noqa: F811
    dep = await queue(db, state, "DEPLOY")
    await runner(db, state, driver).run(dep)
    return await outcome(db, dep)


async def test_stages_run_in_order_and_a_stages_services_in_parallel(db: Database) -> None:  # noqa: F811
    a, b, c = container("a"), container("b"), container("c")
    driver = FakeDriver()
    status, states = await deploy(db, environment([a, b], [c]), driver)
    assert status == "DEPLOYED" and states == {"a": "DEPLOYED", "b": "DEPLOYED", "c": "DEPLOYED"}
    applied = [name for verb, name in driver.calls if verb == "apply"]
    assert sorted(applied[:2]) == ["a", "b"] and applied[2] == "c"
    assert driver.overlap == 2  # a and b at once, never c beside them


async def test_a_failed_stage_cancels_the_next(db: Database) -> None:  # noqa: F811
    a, b, c = container("a"), container("b"), container("c")
    driver = FakeDriver(fail={"a"})
    status, states = await deploy(db, environment([a, b], [c]), driver)
    assert status == "DEPLOYMENT_ERROR"
    assert states == {"a": "DEPLOYMENT_ERROR", "b": "DEPLOYED", "c": "CANCELED"}
    assert ("apply", "c") not in driver.calls


async def test_cancel_during_a_rollout_cancels_it_and_the_rest(db: Database) -> None:  # noqa: F811
    a, c = container("a"), container("c")
    state = environment([a], [c])
    driver = FakeDriver(hold={"a": asyncio.Event()})
    dep = await queue(db, state, "DEPLOY")
    task = asyncio.create_task(runner(db, state, driver).run(dep))
    await wait_until(lambda: ("apply", "a") in driver.calls, timeout=10, message="a's rollout to start")
    async with db.transaction() as session:
        await session.execute(update(Deployment).where(Deployment.id == dep.id).values(cancel_requested=True))
    await asyncio.wait_for(task, timeout=15)  # the runner notices within its one-second check
    status, states = await outcome(db, dep)
    assert status == "CANCELED" and states == {"a": "CANCELED", "c": "CANCELED"}
    assert not driver.running and ("apply", "c") not in driver.calls


async def test_an_uninstall_runs_its_on_delete_jobs_before_anything_goes(db: Database) -> None:  # noqa: F811
    # the job is in the first stage: an uninstall (stages in reverse) would remove web before reaching it
    cleanup, web = lifecycle_job("cleanup", on_delete=True), container("web")
    state = environment([cleanup], [web])
    driver = FakeDriver()
    assert (await deploy(db, state, driver))[0] == "DEPLOYED"  # the job's image is ready for its events
    driver.calls.clear()
    dep = await queue(db, state, "DELETE")
    await runner(db, state, driver).run(dep)
    status, states = await outcome(db, dep)
    assert status == "DELETED" and states == {"cleanup": "DELETED", "web": "DELETED"}
    assert driver.calls == [("apply", "cleanup"), ("delete", "web"), ("delete", "cleanup")]


async def test_a_failed_on_delete_job_stops_the_uninstall_before_anything_goes(db: Database) -> None:  # noqa: F811
    cleanup, web = lifecycle_job("cleanup", on_delete=True), container("web")
    state = environment([web, cleanup])
    assert (await deploy(db, state, FakeDriver()))[0] == "DEPLOYED"
    driver = FakeDriver(fail={"cleanup"})
    dep = await queue(db, state, "DELETE")
    await runner(db, state, driver).run(dep)
    status, states = await outcome(db, dep)
    assert status == "DELETE_ERROR" and states == {"cleanup": "DELETE_ERROR", "web": "CANCELED"}
    assert driver.calls == [("apply", "cleanup")]  # what it should have saved first is still there
    async with db.transaction() as session:
        part = await session.get(DeploymentService, (dep.id, uuid.UUID(cleanup.id)))
    assert part is not None and "never became ready" in str(part.error)


async def test_a_deleted_environment_on_an_engine_without_runtime_has_nothing_to_uninstall(db: Database) -> None:  # noqa: F811
    state = environment([container("web")])
    state.cluster.engine = "kubernetes"
    catalog = FakeCatalog(state)
    scope = {"organization_id": state.organization_id, "project_id": state.project_id,
             "environment_id": state.environment_id}  # fmt: skip
    async with db.transaction() as session:
        dep = await enqueue(session, scope, "DELETE", None, tombstone_id=uuid.UUID(state.environment_id))

    def no_runtime(_: DesiredState) -> FakeDriver:
        raise RuntimeError("cluster c runs on 'kubernetes': only docker-engine clusters can be deployed to yet")

    await Runner(Store(db), catalog, None, no_runtime, None).run(dep)  # type: ignore[arg-type]
    assert (await outcome(db, dep))[0] == "DELETED"
    assert catalog.dropped == [state.environment_id]  # no sealed state is kept for nothing


async def test_a_deploy_records_catalogs_sealed_digest_as_what_runs(db: Database) -> None:  # noqa: F811
    a = container("a")
    state = environment([a])
    status, _ = await deploy(db, state, FakeDriver())
    assert status == "DEPLOYED"
    sealed = (await FakeCatalog(state).sealed_state(state.environment_id)).service(a.id)
    assert sealed is not None and sealed.spec_digest
    async with db.transaction() as session:
        current = await session.get(ServiceState, uuid.UUID(a.id))
    # statuses compare this with the sealed state catalog gives them: nothing decrypted on either side
    assert current is not None and current.deployed_spec_version == sealed.spec_digest


async def test_a_deployer_that_died_mid_rollout_is_taken_over_and_the_rollout_finishes(db: Database) -> None:  # noqa: F811
    from sqlalchemy import text

    from deployer.worker import Worker

    a, b = container("a"), container("b")
    state = environment([a], [b])
    dep = await queue(db, state, "DEPLOY")
    store = Store(db)
    # the first attempt's process got as far as rolling out `a`, then died: its lease runs out
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE deployer.deployments SET phase='RUNNING', status='DEPLOYING', lease_owner='gone:1:x', "
                "lease_expires_at=now() + interval '1 second', attempts=1 WHERE id=:i"
            ),
            {"i": dep.id},
        )
    await store.service_state(dep, a.id, a.kind, a.name, "DEPLOYING")
    driver = FakeDriver()
    worker = Worker(db, runner(db, state, driver).run, lease_seconds=5, poll_seconds=0.1)
    await worker.start()
    try:

        async def done() -> bool:
            return (await outcome(db, dep))[0] == "DEPLOYED"

        await wait_until(done, timeout=20, message="the taken-over deployment never finished")
    finally:
        await worker.stop()
    status, states = await outcome(db, dep)
    assert states == {"a": "DEPLOYED", "b": "DEPLOYED"}
    # the new owner ran it again from the start: every step is idempotent (an unchanged service is a no-op)
    assert [n for verb, n in driver.calls if verb == "apply"] == ["a", "b"]
    async with db.transaction() as session:
        row = await session.get(Deployment, dep.id)
        assert row is not None and row.attempts == 2 and row.phase == "DONE" and row.lease_owner is None
