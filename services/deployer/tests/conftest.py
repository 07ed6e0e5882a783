"""Fixtures of the docker driver's tests (test_runtime_docker*.py): its images, a driver, an engine client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiodocker
import pytest

from deployer.edge import CaddyEdge
from deployer.runtime.docker import DockerEngineDriver

from .docker_world import BROKEN, BROKEN_CMD, TEST_LABEL, TEST_VALUE, WEB, WEB_CMD, build, remove_leftovers


@pytest.fixture(scope="module")
def images(engine) -> Iterator[None]:  # type: ignore[no-untyped-def]
    with engine.client() as client:
        build(client, WEB, WEB_CMD)
        build(client, BROKEN, BROKEN_CMD)
        yield
        remove_leftovers(client)


@pytest.fixture
async def driver(engine, edge, edge_resolver, images) -> AsyncIterator[DockerEngineDriver]:  # type: ignore[no-untyped-def]
    caddy = CaddyEdge(edge.admin_url, edge.http_port, edge.https_port)
    drv = DockerEngineDriver(
        engine.host,
        caddy,
        drain_seconds=0.5,
        stop_timeout=2,
        extra_labels={TEST_LABEL: TEST_VALUE},
        edge_resolver=edge_resolver.address,
    )
    yield drv
    for svc in await drv.list_services():
        await drv.delete_environment(svc.environment_id)
    await drv.close()
    await caddy.aclose()


@pytest.fixture
async def docker(engine) -> AsyncIterator[aiodocker.Docker]:  # type: ignore[no-untyped-def]
    client = aiodocker.Docker(url=engine.host)
    yield client
    await client.close()
