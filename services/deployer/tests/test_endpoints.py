"""The deployer's routes served directly (real Postgres, catalog's sealed state faked, the in-memory driver):
queued status before the runner starts, drift from catalog's sealed digests, 404s, history, and statuses
computed with the same number of queries whatever the number of services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import event

from deployer.deployment.endpoints import router as deployments
from deployer.history.endpoints import router as history
from deployer.models import Deployment
from deployer.runner import Runner
from deployer.status.endpoints import router as statuses
from deployer.store import Store
from slipway.db import Database
from slipway.errors import install_error_handlers
from slipway.principal import HEADER, Principal, sign

from .fakes import FakeCatalog, FakeDriver, container, environment
from .test_queue import db  # noqa: F401  (fixture)

KEY = "endpoint-test-key"


class Poked:
    def __init__(self) -> None:
        self.count = 0

    def poke(self) -> None:
        self.count += 1


def app_for(db: Database, catalog: FakeCatalog) -> FastAPI:  # noqa: F811
    app = FastAPI()
    install_error_handlers(app)
    for router in (deployments, statuses, history):
        app.include_router(router)
    app.state.db = db
    app.state.catalog = catalog
    app.state.worker = Poked()
    app.state.settings = SimpleNamespace(internal_auth_key=SecretStr(KEY))
    return app


@pytest.fixture
async def client(db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, FakeCatalog, FastAPI]]:  # noqa: F811
    web, api = container("web"), container("api")
    catalog = FakeCatalog(environment([web], [api]))
    app = app_for(db, catalog)
    user = uuid.uuid4()
    headers = {HEADER: sign(Principal(kind="user", subject=str(user), user_id=user), KEY)}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://deployer", headers=headers) as c:
        yield c, catalog, app


async def _claim(db: Database, environment_id: str) -> Deployment:  # noqa: F811
    async with db.transaction() as session:
        from sqlalchemy import select

        dep = await session.scalar(
            select(Deployment).where(
                Deployment.environment_id == uuid.UUID(environment_id), Deployment.phase == "QUEUED"
            )
        )
        assert dep is not None
        session.expunge(dep)
        return dep


async def test_deploy_queues_then_the_status_follows_the_runner_and_catalogs_digest(
    client: tuple[httpx.AsyncClient, FakeCatalog, FastAPI],
    db: Database,  # noqa: F811
) -> None:
    api, catalog, app = client
    web = catalog.state.services[0]
    r = await api.post(f"/container/{web.id}/deploy", json={"image_tag": "2"})
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "DEPLOYMENT_QUEUED" and app.state.worker.count == 1
    assert catalog.versions == [(web.id, "CONTAINER", "2")]  # one call: the version, answered with the state
    # queued but not yet picked up: the status says so (not READY)
    status = (await api.get(f"/container/{web.id}/status")).json()
    assert (
        status["state"] == "DEPLOYMENT_QUEUED" and status["deployment_request_id"] == r.json()["deployment_request_id"]
    )

    dep = await _claim(db, catalog.state.environment_id)
    await Runner(Store(db), catalog, None, lambda _: FakeDriver(), None).run(dep)  # type: ignore[arg-type]
    status = (await api.get(f"/container/{web.id}/status")).json()
    assert (status["state"], status["service_deployment_status"]) == ("DEPLOYED", "UP_TO_DATE")
    web.cpu = 999  # the configuration changes at catalog: its sealed digest does too
    status = (await api.get(f"/container/{web.id}/status")).json()
    assert (status["state"], status["service_deployment_status"]) == ("DEPLOYED", "OUT_OF_DATE")
    env = (await api.get(f"/environment/{catalog.state.environment_id}/status")).json()
    assert env["deployment_status"] == "OUT_OF_DATE"

    history = (await api.get(f"/container/{web.id}/deploymentHistoryV2")).json()["results"]
    assert [h["identifier"]["execution_id"] for h in history] == [dep.execution_id]
    assert history[0]["status"] == "DEPLOYED"


async def test_a_service_of_another_kind_or_nowhere_is_a_qovery_404(
    client: tuple[httpx.AsyncClient, FakeCatalog, FastAPI],
) -> None:
    api, catalog, _ = client
    web = catalog.state.services[0]
    for method, path, body in (
        ("POST", f"/application/{web.id}/deploy", {"git_commit_id": "a" * 40}),
        ("GET", f"/application/{web.id}/status", None),
        ("POST", f"/container/{uuid.uuid4()}/restart-service", None),
        ("GET", f"/environment/{uuid.uuid4()}/statuses", None),
    ):
        r = await api.request(method, path, json=body)
        assert r.status_code == 404, (path, r.text)
        assert set(r.json()) >= {"status", "error", "detail"} and r.json()["status"] == 404
    assert catalog.versions == []  # nothing was written for the wrong kind


async def test_statuses_take_the_same_queries_for_two_services_or_eight(db: Database) -> None:  # noqa: F811
    counts = []
    for size in (2, 8):
        catalog = FakeCatalog(environment([container(f"s{i}") for i in range(size)]))
        app = app_for(db, catalog)
        user = uuid.uuid4()
        headers = {HEADER: sign(Principal(kind="user", subject=str(user), user_id=user), KEY)}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://deployer", headers=headers
        ) as api:
            assert (await api.post(f"/environment/{catalog.state.environment_id}/deploy")).status_code == 202
            dep = await _claim(db, catalog.state.environment_id)
            await Runner(Store(db), catalog, None, lambda _: FakeDriver(), None).run(dep)  # type: ignore[arg-type]
            statements: list[Any] = []

            def count(*args: Any, _seen: list[Any] = statements) -> None:
                _seen.append(args)

            engine = db.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            try:
                r = await api.get(f"/environment/{catalog.state.environment_id}/statusesWithStages")
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert r.status_code == 200
            body = r.json()
            assert len(body["stages"][0]["containers"]) == size
            assert {c["state"] for c in body["stages"][0]["containers"]} == {"DEPLOYED"}
            counts.append(len(statements))
    assert counts[0] == counts[1], counts  # no query per service
