"""The docker-engine runtime driver against the real engine (Podman) and a real Caddy edge."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from deployer.edge.caddy import DynamicUpstreams
from deployer.runtime import hostnet
from deployer.runtime.base import LogLine, RolloutFailed
from slipway.desired import SecretFile, ServiceSpec
from slipway_stack.engine import BASE_IMAGE
from slipway_stack.testing import wait_until

from .docker_world import (
    BROKEN,
    WEB,
    Journal,
    Probers,
    container_ids,
    edge_members,
    exec_in,
    host_of,
    networks_of,
    state_of,
    via_edge,
    web,
)


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
