"""The docker-engine runtime driver against the real engine (Podman) and a real Caddy edge."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import aiodocker
import httpx
import pytest

from deployer.edge import CaddyEdge
from deployer.edge.caddy import DynamicUpstreams
from deployer.runtime import hostnet
from deployer.runtime.base import LogLine, RolloutFailed
from deployer.runtime.docker import DockerEngineDriver
from slipway.desired import ClusterTarget, DesiredState, Port, ProbeSpec, SecretFile, ServiceSpec
from slipway_stack.engine import BASE_IMAGE
from slipway_stack.testing import wait_until

TEST_LABEL = "slipway.test"
TEST_VALUE = "deployer-runtime"
BASE_DOMAIN = "slipway.localhost"
WEB = "localhost/slipway-test/web:v1"
BROKEN = "localhost/slipway-test/broken:v1"
# serves "version $VERSION <hostname>" on :8080; one line on stdout, one on stderr
WEB_CMD = (
    'echo "version $VERSION $(cat /etc/hostname)" > /www/index.html; echo "started version $VERSION"; '
    "echo to-stderr >&2; exec httpd -f -p 8080 -h /www"
)
BROKEN_CMD = "echo broken build starting; echo cannot serve >&2; exec sleep 3600"


def build(client: httpx.Client, tag: str, cmd: str) -> None:
    dockerfile = f"FROM {BASE_IMAGE}\nCMD {json.dumps(['sh', '-c', cmd])}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    r = client.post(
        "/build",
        params={"t": tag, "labels": json.dumps({TEST_LABEL: TEST_VALUE})},
        content=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code == 200 and "Successfully tagged" in r.text, r.text[-500:]


def remove_leftovers(client: httpx.Client) -> None:
    filters = json.dumps({"label": [f"{TEST_LABEL}={TEST_VALUE}"]})
    for c in client.get("/containers/json", params={"all": "true", "filters": filters}).json():
        client.delete(f"/containers/{c['Id']}", params={"force": "true"})
    for n in client.get("/networks", params={"filters": filters}).json():
        client.delete(f"/networks/{n['Name']}")


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


class Journal:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        print(f"{time.time():.3f} {line}")
        self.lines.append(line)


def web(name: str = "web", version: str = "1", **kw) -> ServiceSpec:  # type: ignore[no-untyped-def]
    sid = kw.pop("id", str(uuid.uuid4()))
    return ServiceSpec(
        id=sid,
        kind="CONTAINER",
        name=name,
        internal_host=f"{name}-{sid[:8]}",
        host_slug=f"{name}-{sid[:8]}",
        cpu=250,
        memory=64,
        ports=[
            Port(id="p1", name="http", internal_port=8080, publicly_accessible=True, is_default=True, protocol="HTTP")
        ],
        readiness_probe=ProbeSpec(kind="http", port=8080, path="/", period_seconds=1, failure_threshold=3),
        env={"VERSION": version},
        **kw,
    )


def state_of(*services: ServiceSpec, env_id: str | None = None) -> DesiredState:
    return DesiredState(
        organization_id="org-1",
        project_id="proj-1",
        environment_id=env_id or f"rt{uuid.uuid4().hex[:10]}",
        environment_name="test",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c1", engine="podman", base_domain=BASE_DOMAIN),
        stages=[],
        services=list(services),
    )


def host_of(svc: ServiceSpec) -> str:
    return f"{svc.host_slug}.{BASE_DOMAIN}"


def no_route(r: httpx.Response) -> bool:
    return r.status_code == 404 and r.headers.get("x-slipway-no-route") == "1"


async def via_edge(edge, host: str, client: httpx.AsyncClient | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    if client is not None:
        return await client.get(f"http://127.0.0.1:{edge.http_port}/", headers={"Host": host})
    async with httpx.AsyncClient(timeout=5, trust_env=False) as c:
        return await c.get(f"http://127.0.0.1:{edge.http_port}/", headers={"Host": host})


async def container_ids(docker: aiodocker.Docker, env_id: str, retired: bool = False) -> set[str]:
    """The environment's live containers (or, with `retired`, the retired ones)."""
    found = await docker.containers.list(all=True, filters=json.dumps({"label": [f"slipway.environment-id={env_id}"]}))
    return {c.id for c in found if ("--retired-" in c["Names"][0]) == retired}


async def edge_members(docker: aiodocker.Docker, env_id: str) -> set[str]:
    """Containers on the environment's edge network (an instance draining there without its alias too)."""
    found = await docker.containers.list(all=True, filters=json.dumps({"label": [f"slipway.environment-id={env_id}"]}))
    members = set()
    for c in found:
        info = await c.show()
        if f"slipway-{env_id}-edge" in (info["NetworkSettings"].get("Networks") or {}):
            members.add(c.id)
    return members


async def networks_of(docker: aiodocker.Docker, env_id: str) -> set[str]:
    return {n["Name"] for n in await docker.networks.list() if n["Name"].startswith(f"slipway-{env_id}")}


class Probers:
    """Two clients hammering a host through the edge from threads, without any retry: one keeps its
    connection alive, the other opens a new connection per request. `results` holds each answer's version."""

    def __init__(self, edge, host: str) -> None:  # type: ignore[no-untyped-def]
        self.url = f"http://127.0.0.1:{edge.http_port}/"
        self.host = host
        self.results: dict[str, list[str]] = {"keep-alive": [], "new-connection": []}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(kind,)) for kind in self.results]

    def _run(self, kind: str) -> None:
        limits = httpx.Limits(max_keepalive_connections=0 if kind == "new-connection" else 10)
        with httpx.Client(timeout=5, trust_env=False, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(self.url, headers={"Host": self.host})
                    if r.status_code == 200 and r.text.startswith("version "):
                        self.results[kind].append(r.text.split(" ")[1])
                    else:
                        self.failures.append(f"{kind}: HTTP {r.status_code} {r.text[:80]!r}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{kind}: {time.time():.3f} {exc!r}")

    def served(self) -> int:
        return sum(len(r) for r in self.results.values())

    def last(self) -> set[str]:
        return {r[-1] for r in self.results.values() if r}

    def __enter__(self) -> Probers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


async def exec_in(docker: aiodocker.Docker, container_id: str, script: str) -> str:
    execution = await docker.containers.container(container_id).exec(["sh", "-c", script])
    out = []
    async with execution.start(detach=False) as stream:
        while (msg := await stream.read_out()) is not None:
            out.append(msg.data.decode())
    return "".join(out)


async def test_apply_serves_then_zero_failure_rollouts_and_identical_reapply(driver, edge, docker) -> None:  # type: ignore[no-untyped-def]
    svc = web(version="1")
    state = state_of(svc)
    env_id = state.environment_id
    journal = Journal()
    applied = await driver.apply(state, svc, WEB, "dep-1", journal)
    assert applied.changed and len(applied.container_ids) == 1
    assert applied.urls == [f"https://{host_of(svc)}:{edge.https_port}"]
    r = await via_edge(edge, host_of(svc))
    assert r.status_code == 200 and r.text.startswith("version 1 ")
    assert any("waiting for readiness (http probe on port 8080)" in line for line in journal.lines)
    # Podman: a dynamic route (Caddy resolves the service's edge alias), only the ready instance on the edge
    (route,) = [x for x in await driver.edge.list_routes() if x.service_id == svc.id]
    assert route.upstreams == [] and isinstance(route.dynamic, DynamicUpstreams)
    # resolved through the edge resolver: `<alias>.<edge gateway>.slipway-edge.`, forwarded to aardvark-dns
    alias, gateway, suffix, _ = route.dynamic.name.split(".")
    assert alias == f"e-{svc.id.replace('-', '')}" and suffix == "slipway-edge" and route.dynamic.port == 8080
    assert route.dynamic.resolver == driver.edge_resolver
    (edge_net,) = [n for n in await docker.networks.list() if n["Name"] == f"slipway-{env_id}-edge"]
    assert gateway == edge_net["IPAM"]["Config"][0]["Gateway"].replace(".", "-")
    assert await networks_of(docker, env_id) == {f"slipway-{env_id}", f"slipway-{env_id}-edge"}
    for net in (f"slipway-{env_id}", f"slipway-{env_id}-edge"):  # bridges pinned: no gateway MAC change
        gateway = (await (await docker.networks.get(net)).show())["IPAM"]["Config"][0]["Gateway"]
        bridge = hostnet.interface_with_address(gateway)
        assert bridge is not None and hostnet.is_pinned(bridge)
    assert await edge_members(docker, env_id) == set(applied.container_ids)
    raw_route = await driver.edge._call("GET", f"/id/{route.route_id}")

    # the same spec again: nothing is touched
    before = await container_ids(docker, env_id)
    again = await driver.apply(state, svc, WEB, "dep-2", Journal())
    assert not again.changed and again.container_ids == applied.container_ids
    assert await container_ids(docker, env_id) == before

    # two env changes roll out while two clients hammer the edge without any retry: every request is a 200
    driver.drain_seconds = 2.5  # the production default
    started_ms = int(time.time() * 1000)
    rolled = applied
    with Probers(edge, host_of(svc)) as probers:
        await wait_until(lambda: all(len(r) > 10 for r in probers.results.values()), timeout=10)
        for version in ("2", "3"):
            spec = svc.model_copy(update={"env": {"VERSION": version}})
            previous = rolled
            rolled = await driver.apply(state_of(spec, env_id=env_id), spec, WEB, f"dep-v{version}", journal)
            assert rolled.changed and rolled.container_ids != previous.container_ids
            assert await edge_members(docker, env_id) == set(rolled.container_ids)
            await wait_until(lambda v=version: probers.last() == {v}, timeout=10)  # type: ignore[misc]
        count = probers.served()
        await wait_until(lambda: probers.served() > count + 20, timeout=10)
    assert not probers.failures, (
        f"{len(probers.failures)} of {probers.served()} requests failed: {probers.failures[:5]}"
    )
    for kind, results in probers.results.items():
        assert set(results) == {"1", "2", "3"}, (kind, set(results))
        assert max(i for i, v in enumerate(results) if v == "1") < results.index("3"), kind  # v1 gone before v3
    print(f"\nzero-failure rollouts: {probers.served()} requests served, 0 failed")
    # the route was never touched during the rollouts: no Caddy reload
    assert await driver.edge._call("GET", f"/id/{route.route_id}") == raw_route
    assert any("new instance(s) joined the edge" in line for line in journal.lines)

    # the replaced instances are retired: stopped, kept for their logs, not counted as instances
    assert await container_ids(docker, env_id) == set(rolled.container_ids)
    retired = await container_ids(docker, env_id, retired=True)
    assert len(retired) == 2 and not (retired & await edge_members(docker, env_id))
    for cid in retired:
        assert (await docker.containers.container(cid).show())["State"]["Running"] is False
    (status,) = await driver.status(env_id)
    assert status.service_id == svc.id and status.state == "RUNNING"
    (inst,) = status.instances
    assert inst.state == "RUNNING" and inst.deployment_id == "dep-v3" and inst.restart_count == 0
    assert inst.started_at_ms and abs(inst.started_at_ms - time.time() * 1000) < 120_000
    (listed,) = await driver.list_services(env_id)
    assert {i.id for i in listed.instances} == set(rolled.container_ids) and {i.id for i in listed.retired} == retired

    # logs: the live instance only, unless `since` reaches back into the retired ones' life
    lines = [line async for line in driver.follow_logs(env_id, svc.id, follow=False)]
    assert ("stdout", "started version 3") in [(x.stream, x.message) for x in lines]
    assert ("stderr", "to-stderr") in [(x.stream, x.message) for x in lines]
    assert all(x.deployment_id == "dep-v3" and x.pod_name == inst.name for x in lines)
    since = started_ms - 60_000
    history = [line async for line in driver.follow_logs(env_id, svc.id, since_ms=since, follow=False)]
    started = [x.message for x in history if x.message.startswith("started version")]
    assert started == ["started version 1", "started version 2", "started version 3"], started
    assert {x.deployment_id for x in history} == {"dep-1", "dep-v2", "dep-v3"}
    assert not any("--retired-" in x.pod_name for x in history)  # pod names stay those of their life
    recent = int(time.time() * 1000)
    assert not [
        x
        async for x in driver.follow_logs(env_id, svc.id, since_ms=recent, follow=False)
        if x.deployment_id != "dep-v3"
    ]

    # after the retention window, the next apply of the service removes the retired instances
    driver.retain_replaced_seconds = 0.5
    await asyncio.sleep(0.6)
    assert not (await driver.apply(state_of(spec, env_id=env_id), spec, WEB, "dep-v3", Journal())).changed
    assert await container_ids(docker, env_id, retired=True) == set()
    assert await container_ids(docker, env_id) == set(rolled.container_ids)


async def test_follow_logs_streams_and_picks_up_new_instances(driver, docker) -> None:  # type: ignore[no-untyped-def]
    svc = web(version="1")
    state = state_of(svc)
    await driver.apply(state, svc, WEB, "dep-1", Journal())
    seen: list[LogLine] = []

    async def collect() -> None:
        async for line in driver.follow_logs(state.environment_id, svc.id, follow=True):
            seen.append(line)

    driver.log_discovery_seconds = 0.3
    task = asyncio.create_task(collect())
    try:
        await wait_until(lambda: any(x.message == "started version 1" for x in seen), timeout=10)
        v2 = svc.model_copy(update={"env": {"VERSION": "2"}})
        await driver.apply(state_of(v2, env_id=state.environment_id), v2, WEB, "dep-2", Journal())
        await wait_until(lambda: any(x.message == "started version 2" for x in seen), timeout=10)
        assert {x.deployment_id for x in seen} == {"dep-1", "dep-2"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # since: nothing older than a moment from now
    future = int(time.time() * 1000) + 3000
    assert [x async for x in driver.follow_logs(state.environment_id, svc.id, since_ms=future, follow=False)] == []


async def test_broken_version_fails_and_the_old_one_keeps_serving(driver, edge, docker) -> None:  # type: ignore[no-untyped-def]
    svc = web(version="1")
    state = state_of(svc)
    applied = await driver.apply(state, svc, WEB, "dep-1", Journal())
    journal = Journal()
    with pytest.raises(RolloutFailed) as failed:
        await driver.apply(state, svc, BROKEN, "dep-2", journal)
    message = str(failed.value)
    assert "readiness probe failed 3 times" in message
    assert "broken build starting" in message and "cannot serve" in message  # the container's last lines
    assert any("the previous version keeps serving" in line for line in journal.lines)
    assert await container_ids(docker, state.environment_id) == set(applied.container_ids)
    assert await container_ids(docker, state.environment_id, retired=True) == set()  # failed ones are removed
    assert await edge_members(docker, state.environment_id) == set(applied.container_ids)
    r = await via_edge(edge, host_of(svc))
    assert r.status_code == 200 and r.text.startswith("version 1 ")

    # a first deployment whose process exits at once fails fast with its output
    crashing = web(name="crash", arguments=["sh", "-c", "echo no config found >&2; exit 3"])
    started = time.monotonic()
    with pytest.raises(RolloutFailed) as crashed:
        await driver.apply(state_of(crashing, env_id=state.environment_id), crashing, WEB, "dep-3", Journal())
    assert "no config found" in str(crashed.value) and time.monotonic() - started < 15
    assert await container_ids(docker, state.environment_id) == set(applied.container_ids)


async def test_services_reach_each_other_files_resources_instances(driver, edge, docker) -> None:  # type: ignore[no-untyped-def]
    api = web(
        name="api",
        min_running_instances=2,
        files=[
            SecretFile(key="TOKEN_FILE", path="/etc/app/token", content="s3cret", is_secret=True),
            SecretFile(key="CONF", path="/etc/app/app.conf", content="mode=test\n"),
        ],
        custom_domains=["api.customer.localhost"],
    )
    worker = ServiceSpec(
        id=str(uuid.uuid4()),
        kind="CONTAINER",
        name="Worker Bee",
        internal_host="worker-internal",
        host_slug="worker",
        memory=32,
        arguments=["sleep", "3600"],
    )
    state = state_of(api, worker)
    applied = await driver.apply(state, api, WEB, "dep-1", Journal())
    done = await driver.apply(state, worker, BASE_IMAGE, "dep-1", Journal())
    assert len(applied.container_ids) == 2 and done.urls == []

    # both instances behind the edge (round robin), on the generated host and the custom domain
    hostnames = {(await via_edge(edge, host_of(api))).text.split(" ")[2].strip() for _ in range(6)}
    assert len(hostnames) == 2
    assert (await via_edge(edge, "api.customer.localhost")).text.startswith("version 1 ")

    # the worker reaches the api by its internal host and by its slugified name
    (worker_id,) = done.container_ids
    for alias in (api.internal_host, "api"):
        out = await exec_in(docker, worker_id, f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc {alias} 8080')
        assert "200 OK" in out and "version 1" in out, out
    out = await exec_in(docker, worker_id, "nslookup api; nslookup " + api.internal_host)
    assert out.count("Address") >= 6, out  # server + both api instances, for each name
    # a public instance (also on the edge network) resolves the others' names like applications do
    # (getaddrinfo: the search domain, then the bare name)
    out = await exec_in(docker, applied.container_ids[0], "nc -w1 worker-bee 1; nc -w1 worker-internal 1")
    assert out.count("can't connect to remote host") == 2, out

    info = await docker.containers.container(applied.container_ids[0]).show()
    assert info["HostConfig"]["NanoCpus"] == 250_000_000 and info["HostConfig"]["Memory"] == 64 * 1024 * 1024
    labels = info["Config"]["Labels"]
    assert labels["slipway.service-id"] == api.id and labels["slipway.environment-id"] == state.environment_id
    assert labels["slipway.organization-id"] == "org-1" and labels["slipway.project-id"] == "proj-1"
    assert labels["slipway.deployment-id"] == "dep-1" and len(labels["slipway.spec-hash"]) == 24
    assert info["Name"].lstrip("/").startswith(f"slipway-{api.id.replace('-', '')[:8]}-dep1")
    out = await exec_in(
        docker, applied.container_ids[0], "ls -l /etc/app/token; cat /etc/app/token; cat /etc/app/app.conf"
    )
    assert "-r--------" in out and "s3cret" in out and "mode=test" in out


async def test_stop_apply_again_and_delete_clean_up(driver, edge, docker) -> None:  # type: ignore[no-untyped-def]
    svc = web()
    state = state_of(svc)
    network = f"slipway-{state.environment_id}"
    first = await driver.apply(state, svc, WEB, "dep-1", Journal())
    assert (await docker.networks.get(network)).id
    assert await edge_members(docker, state.environment_id) == set(first.container_ids)

    await driver.stop(state, svc, Journal())
    (status,) = await driver.status(state.environment_id)
    assert status.state == "STOPPED" and [i.state for i in status.instances] == ["STOPPED"]
    assert await edge_members(docker, state.environment_id) == set()
    assert not [r for r in await driver.edge.list_routes() if r.service_id == svc.id]
    assert no_route(await via_edge(edge, host_of(svc)))  # the edge's catch-all: nobody serves this host

    # after a stop, the same spec starts fresh
    restarted = await driver.apply(state, svc, WEB, "dep-2", Journal())
    assert restarted.changed
    assert await container_ids(docker, state.environment_id) == set(restarted.container_ids)
    assert await container_ids(docker, state.environment_id, retired=True) == set(first.container_ids)
    assert (await via_edge(edge, host_of(svc))).text.startswith("version 1 ")

    # restart replaces the instance with zero downtime
    await driver.restart(state, svc, Journal())
    after = await container_ids(docker, state.environment_id)
    assert len(after) == 1 and after != set(restarted.container_ids)
    assert await edge_members(docker, state.environment_id) == after
    assert (await via_edge(edge, host_of(svc))).text.startswith("version 1 ")
    assert len(await container_ids(docker, state.environment_id, retired=True)) == 2

    # delete removes everything: live and retired containers, the route, both networks
    await driver.delete(state.environment_id, svc.id, Journal())
    assert await container_ids(docker, state.environment_id) == set()
    assert await container_ids(docker, state.environment_id, retired=True) == set()
    assert not [r for r in await driver.edge.list_routes() if r.service_id == svc.id]
    assert await networks_of(docker, state.environment_id) == set()
    with pytest.raises(aiodocker.DockerError):
        await docker.networks.get(network)
    assert await driver.status(state.environment_id) == []


async def test_adopt_reapplies_routes_from_labels(driver, edge, docker) -> None:  # type: ignore[no-untyped-def]
    a, b = web(name="a"), web(name="b")
    state = state_of(a, b)
    for svc in (a, b):
        await driver.apply(state, svc, WEB, "dep-9", Journal())
    # a Caddy restart loses every route
    for svc in (a, b):
        await driver.edge.remove_service(svc.id)
    assert no_route(await via_edge(edge, host_of(a)))

    # a fresh deployer process finds what runs and re-routes it
    fresh = DockerEngineDriver(
        driver.docker_host, driver.edge, extra_labels=driver.extra_labels, edge_resolver=driver.edge_resolver
    )
    try:
        services = await fresh.adopt(state.environment_id)
    finally:
        await fresh.close()
    assert {s.service_id for s in services} == {a.id, b.id}
    assert {s.deployment_id for s in services} == {"dep-9"}
    for svc in (a, b):
        assert (await via_edge(edge, host_of(svc))).text.startswith("version 1 ")
    assert all(r.dynamic for r in await driver.edge.list_routes() if r.service_id in (a.id, b.id))

    await driver.delete_environment(state.environment_id)
    assert await container_ids(docker, state.environment_id) == set()
    assert not [r for r in await driver.edge.list_routes() if r.service_id in (a.id, b.id)]
    assert await networks_of(docker, state.environment_id) == set()


async def test_static_edge_mode_for_docker_engine(engine, edge, images, docker) -> None:  # type: ignore[no-untyped-def]
    """Docker Engine's DNS is not reachable from the host: routes list `ip:port` upstreams, PATCHed per rollout."""
    caddy = CaddyEdge(edge.admin_url, edge.http_port, edge.https_port)
    drv = DockerEngineDriver(
        engine.host, caddy, drain_seconds=0.5, stop_timeout=2, extra_labels={TEST_LABEL: TEST_VALUE}, edge_mode="static"
    )
    svc = web(version="1")
    state = state_of(svc)
    try:
        first = await drv.apply(state, svc, WEB, "dep-1", Journal())
        v2 = svc.model_copy(update={"env": {"VERSION": "2"}})
        second = await drv.apply(state_of(v2, env_id=state.environment_id), v2, WEB, "dep-2", Journal())
        (route,) = [r for r in await caddy.list_routes() if r.service_id == svc.id]
        (inst,) = [i for s in await drv.list_services(state.environment_id) for i in s.instances]
        assert route.dynamic is None and route.upstreams == [f"{inst.ip}:8080"]
        assert (await via_edge(edge, host_of(svc))).text.startswith("version 2 ")
        assert await networks_of(docker, state.environment_id) == {f"slipway-{state.environment_id}"}
        assert await container_ids(docker, state.environment_id, retired=True) == set(first.container_ids)
        assert await container_ids(docker, state.environment_id) == set(second.container_ids)
        await drv.delete(state.environment_id, svc.id, Journal())
        assert (
            await container_ids(docker, state.environment_id) | await networks_of(docker, state.environment_id) == set()
        )
    finally:
        await drv.delete_environment(state.environment_id)
        await drv.close()
        await caddy.aclose()


async def test_liveness_failure_restarts_the_container(driver, docker) -> None:  # type: ignore[no-untyped-def]
    svc = web(
        arguments=["sh", "-c", "echo > /tmp/alive; " + WEB_CMD],
        liveness_probe=ProbeSpec(
            kind="exec", command=["test", "-f", "/tmp/alive"], period_seconds=1, failure_threshold=2, timeout_seconds=2
        ),
    )
    state = state_of(svc)
    applied = await driver.apply(state, svc, WEB, "dep-1", Journal())
    watcher = driver.watcher(svc.id)
    assert watcher is not None and watcher.running
    await exec_in(docker, applied.container_ids[0], "rm /tmp/alive")

    async def restarted() -> bool:
        (status,) = await driver.status(state.environment_id)
        return status.instances[0].restart_count >= 1 or watcher.restarts >= 1

    await wait_until(restarted, timeout=20, interval=0.3)

    async def alive_again() -> str:
        try:
            return await exec_in(docker, applied.container_ids[0], "test -f /tmp/alive && echo yes")
        except aiodocker.DockerError:  # still restarting
            return ""

    await wait_until(alive_again, timeout=10)
    await driver.stop(state, svc, Journal())
    assert driver.watcher(svc.id) is None


async def test_job_runs_to_completion(driver) -> None:  # type: ignore[no-untyped-def]
    ok = ServiceSpec(
        id=str(uuid.uuid4()),
        kind="JOB",
        name="migrate",
        internal_host="migrate",
        host_slug="migrate",
        memory=32,
        arguments=["sh", "-c", "echo migrated"],
    )
    state = state_of(ok)
    applied = await driver.apply(state, ok, BASE_IMAGE, "dep-1", Journal())
    assert applied.changed and len(applied.container_ids) == 1
    (status,) = await driver.status(state.environment_id)
    assert status.state == "COMPLETED"
    assert [x.message async for x in driver.follow_logs(state.environment_id, ok.id, follow=False)] == ["migrated"]

    bad = ok.model_copy(update={"id": str(uuid.uuid4()), "arguments": ["sh", "-c", "echo boom >&2; exit 3"]})
    with pytest.raises(RolloutFailed, match="job exited with code 3") as failed:
        await driver.apply(state_of(bad, env_id=state.environment_id), bad, BASE_IMAGE, "dep-2", Journal())
    assert "boom" in str(failed.value)


async def test_a_service_with_a_volume_is_recreated_and_keeps_its_data(driver, edge, docker) -> None:  # type: ignore[no-untyped-def]
    from deployer.runtime import spec as S
    from slipway.desired import VolumeSpec

    script = (
        '[ -f /data/first ] || echo "$VERSION" > /data/first; mkdir -p /www; cp /data/first /www/index.html; '
        'echo "v$VERSION" > /www/now.html; exec httpd -f -p 8080 -h /www'
    )
    volume = VolumeSpec(id=str(uuid.uuid4()), mount_point="/data", size_gib=1)
    svc = web(name="db", version="1", arguments=["sh", "-c", script], volumes=[volume], min_running_instances=2)
    state = state_of(svc)
    first = await driver.apply(state, svc, WEB, "dep-1", Journal())
    assert len(first.container_ids) == 1  # one instance per volume, whatever min_running_instances says
    assert (await via_edge(edge, host_of(svc))).text.strip() == "1"

    journal = Journal()
    v2 = svc.model_copy(update={"env": {"VERSION": "2"}})
    second = await driver.apply(state_of(v2, env_id=state.environment_id), v2, WEB, "dep-2", journal)
    assert any("stopping the previous instance first" in line for line in journal.lines)
    assert (await via_edge(edge, host_of(svc))).text.strip() == "1"  # the data written by version 1 survived
    async with httpx.AsyncClient(timeout=5, trust_env=False) as c:
        now = await c.get(f"http://127.0.0.1:{edge.http_port}/now.html", headers={"Host": host_of(svc)})
    assert now.text.strip() == "v2"  # …served by version 2
    running = await container_ids(docker, state.environment_id)
    assert running == set(second.container_ids) and len(running) == 1

    broken = v2.model_copy(update={"env": {"VERSION": "3"}, "arguments": ["sh", "-c", "echo no disk >&2; exit 3"]})
    with pytest.raises(RolloutFailed):
        await driver.apply(state_of(broken, env_id=state.environment_id), broken, WEB, "dep-3", Journal())
    assert await container_ids(docker, state.environment_id) == set(second.container_ids)  # started again
    assert (await via_edge(edge, host_of(svc))).text.strip() == "1"

    name = S.volume_name(svc.id, volume.id)
    assert [v["Name"] for v in (await docker.volumes.list())["Volumes"] if v["Name"] == name] == [name]
    await driver.delete(state.environment_id, svc.id, Journal())
    assert not [v for v in (await docker.volumes.list())["Volumes"] or [] if v["Name"] == name]
