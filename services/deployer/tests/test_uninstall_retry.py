"""A deleted environment's uninstall on real Postgres and Podman: catalog's event queues one DELETE deployment
(a redelivery queues nothing); when the cluster's engine cannot be reached it fails and is queued again for
later, without holding up the environment's queue, until the engine is back and nothing of it runs any more."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from deployer.drivers import Drivers
from deployer.events import subscriptions
from deployer.models import Deployment, ServiceState, outbox
from deployer.queue import enqueue
from deployer.runner import Runner
from deployer.settings import DeployerSettings
from deployer.store import Store
from deployer.worker import Worker
from slipway.contracts import Subjects
from slipway.db import Database
from slipway.desired import ClusterTarget, DesiredState
from slipway.events import Envelope
from slipway.timeutil import utcnow
from slipway_stack.engine import BASE_IMAGE
from slipway_stack.testing import wait_until

from .fakes import FakeCatalog
from .test_cluster_engines import containers_of, job
from .test_queue import db  # noqa: F401  (fixture)

FORGOTTEN = Subjects.DEPLOYER_SERVICES_FORGOTTEN


async def _nolog(_: str) -> None:
    return None


async def deployments(db: Database, environment_id: str) -> list[Deployment]:  # noqa: F811
    async with db.transaction() as session:
        rows = await session.scalars(
            select(Deployment).where(Deployment.environment_id == uuid.UUID(environment_id)).order_by(Deployment.number)
        )
        return list(rows)


async def test_a_failed_uninstall_is_retried_until_nothing_runs(db: Database, engine, edge, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # the cluster's engine address: a path that leads nowhere until the engine "comes back"
    link = tmp_path / "engine.sock"
    svc = job()
    env_id = str(uuid.uuid4())
    state = DesiredState(
        organization_id=str(uuid.uuid4()),
        project_id=str(uuid.uuid4()),
        environment_id=env_id,
        environment_name="gone",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c", engine="podman", engine_host=f"unix://{link}", base_domain="localhost"),
        stages=[],
        services=[svc],
    ).seal()
    settings = DeployerSettings(installation_id="retry", docker_host=engine.host, edge_admin_url=edge.admin_url)
    drivers = Drivers(settings)
    catalog = FakeCatalog(state)
    runner = Runner(Store(db), catalog, None, drivers.for_state, None, uninstall_retry_seconds=1.0)  # type: ignore[arg-type]
    worker = Worker(db, runner.run, lease_seconds=10, poll_seconds=0.2)
    link.symlink_to(engine.host.removeprefix("unix://"))
    before = Drivers(settings)  # its own connections: the deployer's own ones must find the engine away
    await before.for_state(state).apply(state, svc, BASE_IMAGE, f"{env_id}-0", _nolog)  # it ran there
    await before.close()
    assert containers_of(engine, env_id)
    link.unlink()  # the engine is away
    try:
        payload: dict[str, Any] = {"environment_id": env_id, "project_id": state.project_id, "tombstone_id": env_id}
        envelope = Envelope(
            type=Subjects.ENVIRONMENT_DELETED,
            source="catalog",
            organization_id=uuid.UUID(state.organization_id),
            resource_id=env_id,
            payload={**payload, "cluster_id": "c", "engine": "podman", "engine_host": f"unix://{link}"},
        )
        handler = {s.subject: s.handler for s in subscriptions(drivers)}[Subjects.ENVIRONMENT_DELETED]
        for _ in range(2):  # delivered twice: queued once
            async with db.transaction() as session:
                await handler(session, envelope)
        [queued] = await deployments(db, env_id)
        assert (queued.action, queued.status, queued.origin) == ("DELETE", "DELETE_QUEUED", "QOVERY_INTERNAL")

        await worker.start()

        async def failed_then_requeued() -> bool:
            rows = await deployments(db, env_id)
            return len(rows) >= 2 and rows[0].status == "DELETE_ERROR"

        await wait_until(failed_then_requeued, timeout=60, message="the first uninstall to fail and be queued again")
        first, retry = (await deployments(db, env_id))[:2]
        assert retry.tombstone_id == first.tombstone_id and retry.not_before is not None
        assert catalog.dropped == []  # the tombstone stays while something may still run

        link.symlink_to(engine.host.removeprefix("unix://"))  # the engine is back

        async def uninstalled() -> bool:
            return (await deployments(db, env_id))[-1].status == "DELETED"

        await wait_until(uninstalled, timeout=60, message="a retry to uninstall the environment")
        assert containers_of(engine, env_id) == []
        assert catalog.dropped == [env_id]
        rows = await deployments(db, env_id)
        assert [r.status for r in rows[:-1]] == ["DELETE_ERROR"] * (len(rows) - 1)
        async with db.transaction() as session:
            assert await session.get(ServiceState, uuid.UUID(svc.id)) is None  # forgotten
            # and announced so, once (the builder's images of it may go): not by the failed attempt
            events = (await session.scalars(select(outbox.c.data).where(outbox.c.subject == FORGOTTEN))).all()
        mine = [e for e in map(json.loads, events) if e["payload"]["environment_id"] == env_id]
        assert [e["payload"]["service_ids"] for e in mine] == [[svc.id]]
    finally:
        await worker.stop()
        link.unlink(missing_ok=True)
        link.symlink_to(engine.host.removeprefix("unix://"))
        await drivers.for_state(state).delete_environment(env_id)
        await drivers.close()
        link.unlink()


async def test_a_waiting_retry_does_not_hold_up_its_environment(db: Database) -> None:  # noqa: F811
    env = uuid.uuid4()
    scope = {"organization_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "environment_id": str(env)}
    async with db.transaction() as session:
        later = await enqueue(session, scope, "DELETE", ["x"], tombstone_id=uuid.uuid4(),
                              not_before=utcnow() + timedelta(minutes=5))  # fmt: skip
        now = await enqueue(session, scope, "DEPLOY", None)
    ran: list[int] = []

    async def run(dep: Deployment) -> None:
        ran.append(dep.number)
        await Store(db).finish(dep, "DEPLOYED")

    worker = Worker(db, run, lease_seconds=10, poll_seconds=0.1)
    await worker.start()
    try:
        await wait_until(lambda: ran == [now.number], timeout=20, message="the newer deployment to run")
        worker.poke()
        await asyncio.sleep(0.5)  # a few more claims: the retry is not due yet
    finally:
        await worker.stop()
    assert ran == [now.number]
    async with db.transaction() as session:
        waiting = await session.get(Deployment, later.id)
    assert waiting is not None and waiting.phase == "QUEUED"
