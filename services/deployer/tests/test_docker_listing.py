"""Listing containers and inspecting networks ride out Podman's list/remove race (a 500 for the whole answer when
one container in it is removed meanwhile, podman#10225 and #17341) and still report any other engine failure,
against a local engine API server."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator

import aiodocker
import pytest
from aiodocker.exceptions import DockerError
from aiohttp import web

from deployer.runtime.docker.base import list_containers, past_removals

RACE = "container 5224255e7c66 does not exist in database: no such container"


class Engine:
    """Answers each listing or inspection with the next of `failures` (status, message), then with its answer."""

    def __init__(self) -> None:
        self.failures: list[tuple[int, str]] = []
        self.listings = 0
        self.url = ""

    async def version(self, _: web.Request) -> web.Response:
        return web.json_response({"ApiVersion": "1.41"})

    async def handle(self, request: web.Request) -> web.Response:
        self.listings += 1
        if self.failures:
            status, message = self.failures.pop(0)
            body = {"cause": message.rsplit(": ", 1)[-1], "message": message, "response": status}
            return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")
        if request.path.endswith("/containers/json"):
            return web.json_response([{"Id": "c1", "Names": ["/web"], "Labels": {}}])
        return web.json_response({"Name": request.match_info["name"], "Id": "n1", "Containers": {}})


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    e = Engine()
    app = web.Application()
    app.router.add_get("/{version}/containers/json", e.handle)
    app.router.add_get("/{version}/networks/{name}", e.handle)
    app.router.add_get("/version", e.version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    e.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield e
    await runner.cleanup()


async def test_a_listing_that_lost_a_removed_container_is_asked_again(engine: Engine) -> None:
    engine.failures = [(500, RACE), (500, "container not known")]
    docker = aiodocker.Docker(url=engine.url)
    try:
        found = await list_containers(docker, '{"label": ["slipway.managed-by=slipway"]}')
    finally:
        await docker.close()
    assert [c.id for c in found] == ["c1"] and engine.listings == 3


async def test_other_engine_failures_and_a_race_that_never_ends_are_reported(engine: Engine) -> None:
    docker = aiodocker.Docker(url=engine.url)
    try:
        engine.failures = [(500, "database is locked")]
        with pytest.raises(DockerError, match="database is locked"):
            await list_containers(docker, "{}")
        assert engine.listings == 1  # not a listing race: reported at once

        engine.failures, engine.listings = [(500, RACE)] * 8, 0
        with pytest.raises(DockerError, match="no such container"):
            await list_containers(docker, "{}", pause=0.001)
        assert engine.listings == 8
    finally:
        await docker.close()


async def test_a_network_inspected_while_its_containers_go_is_inspected_again(engine: Engine) -> None:
    engine.failures = [(500, RACE)]
    docker = aiodocker.Docker(url=engine.url)
    try:
        network = await past_removals(functools.partial(docker.networks.get, "slipway-env-x"))
    finally:
        await docker.close()
    assert network.id == "n1" and engine.listings == 2
