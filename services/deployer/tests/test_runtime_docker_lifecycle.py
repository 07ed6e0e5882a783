"""The docker driver on real Podman: stop, delete, adoption, the static edge, liveness, jobs, volumes."""

from __future__ import annotations

import uuid

import aiodocker
import httpx
import pytest

from deployer.edge import CaddyEdge
from deployer.runtime.base import RolloutFailed
from deployer.runtime.docker import DockerEngineDriver
from slipway.desired import ProbeSpec, ServiceSpec
from slipway_stack.engine import BASE_IMAGE
from slipway_stack.testing import wait_until

from .docker_world import (
    TEST_LABEL,
    TEST_VALUE,
    WEB,
    WEB_CMD,
    Journal,
    container_ids,
    edge_members,
    exec_in,
    host_of,
    networks_of,
    no_route,
    state_of,
    via_edge,
    web,
)


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


async def test_a_huge_output_file_fails_the_run_without_being_read_into_memory(driver) -> None:  # type: ignore[no-untyped-def]
    """A run may write gigabytes to its output file; the shared deployer reads no more than the limit allows."""
    import tracemalloc

    from slipway.joboutput import MAX_FILE_BYTES

    huge = ServiceSpec(
        id=str(uuid.uuid4()),
        kind="JOB",
        name="huge",
        internal_host="huge",
        host_slug="huge",
        memory=32,
        arguments=["sh", "-c", "head -c 67108864 /dev/zero > /qovery-output/qovery-output.json"],
    )
    tracemalloc.start()
    try:
        with pytest.raises(RolloutFailed, match=f"larger than {MAX_FILE_BYTES} bytes"):
            await driver.apply(state_of(huge), huge, BASE_IMAGE, "dep-1", Journal())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes held while reading a 64 MiB output file"


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
