"""A docker-engine cluster deploys onto the engine its own address names (a second Podman service with its own
storage, on its own socket), never onto the deployer's local engine; an unreachable engine fails clearly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.drivers import Drivers
from deployer.settings import DeployerSettings
from slipway.desired import ClusterTarget, DesiredState, ServiceSpec
from slipway_stack.engine import BASE_IMAGE, CONTAINERS_CONF, ContainerEngine

LABEL = "slipway.test"
VALUE = "cluster-engines"


@pytest.fixture(scope="module")
def second_engine(engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerEngine]:  # type: ignore[no-untyped-def]
    """Podman's API service on another socket with storage, network definitions and subnets of its own: it sees
    none of the first one's containers or networks (shared network definitions would give both engines an
    aardvark-dns answering on the same gateway)."""
    state = tmp_path_factory.mktemp("engine2")
    sock = Path(f"/tmp/slipway-engine2-{uuid.uuid4().hex[:8]}.sock")  # unix socket paths must stay short
    conf = state / "containers.conf"
    pool = '[{"base" = "10.213.0.0/16", "size" = 24}]'
    conf.write_text(f'{CONTAINERS_CONF}\n[network]\ndefault_subnet = "10.212.0.0/24"\ndefault_subnet_pools = {pool}\n')
    (state / "tmp").mkdir()  # its temporary files (the base image's import) stay in its state, as the stack's do
    env = {**os.environ, **engine.env(), "CONTAINERS_CONF": str(conf), "TMPDIR": str(state / "tmp")}
    env.pop("DOCKER_HOST", None)
    proc = subprocess.Popen(
        [
            shutil.which("podman") or "podman",
            "--root",
            str(state / "root"),
            "--runroot",
            str(state / "run"),
            "--network-config-dir",
            str(state / "networks"),
            "system",
            "service",
            "--time=0",
            f"unix://{sock}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(state / "podman.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    second = ContainerEngine(state, state / "podman.log", state / "podman.pid", f"unix://{sock}")
    try:
        second.wait(30)
        second.ensure_base_image()
        yield second
    finally:
        with second.client() as client:
            filters = json.dumps({"label": [f"{LABEL}={VALUE}"]})
            for c in client.get("/containers/json", params={"all": "true", "filters": filters}).json():
                client.delete(f"/containers/{c['Id']}", params={"force": "true"})
            for n in client.get("/networks", params={"filters": filters}).json():
                client.delete(f"/networks/{n['Name']}")
        proc.terminate()
        proc.wait(20)
        sock.unlink(missing_ok=True)
        unmount_below(state)


def unmount_below(path: Path) -> None:
    """Podman's storage bind-mounts its overlay directory; leave no mount behind (deepest first)."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{path}/")), key=len, reverse=True):
        subprocess.run(["umount", point], check=False, capture_output=True)


def job() -> ServiceSpec:
    return ServiceSpec(
        id=str(uuid.uuid4()),
        kind="JOB",
        name="where",
        internal_host="where",
        host_slug="where",
        memory=32,
        arguments=["sh", "-c", "echo ran here"],
    )


def state_of(svc: ServiceSpec, engine_host: str | None) -> DesiredState:
    return DesiredState(
        organization_id="org-1",
        project_id="proj-1",
        environment_id=f"ce{uuid.uuid4().hex[:10]}",
        environment_name="test",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c2", engine="podman", engine_host=engine_host, base_domain="localhost"),
        stages=[],
        services=[svc],
    )


def containers_of(eng: ContainerEngine, environment_id: str) -> list[str]:
    with eng.client() as client:
        filters = json.dumps({"label": [f"slipway.environment-id={environment_id}"]})
        return [c["Id"] for c in client.get("/containers/json", params={"all": "true", "filters": filters}).json()]


async def _lines(_: str) -> None:
    return None


async def test_a_cluster_deploys_to_its_own_engine(engine, edge, second_engine) -> None:  # type: ignore[no-untyped-def]
    drivers = Drivers(DeployerSettings(installation_id="ce", docker_host=engine.host, edge_admin_url=edge.admin_url))
    try:
        svc = job()
        state = state_of(svc, second_engine.host)
        driver = drivers.for_state(state)
        assert driver is not drivers.default()
        driver.extra_labels[LABEL] = VALUE  # type: ignore[attr-defined]
        applied = await driver.apply(state, svc, BASE_IMAGE, "dep-1", _lines)
        assert applied.changed
        assert containers_of(second_engine, state.environment_id) == applied.container_ids
        assert containers_of(engine, state.environment_id) == []  # nothing on the deployer's own engine
        # catalog's deletion event names the cluster's engine: the uninstall happens there
        gone = drivers.for_event({"cluster_id": "c2", "engine": "podman", "engine_host": second_engine.host})
        assert gone is driver
        await gone.delete_environment(state.environment_id)  # type: ignore[union-attr]
        assert containers_of(second_engine, state.environment_id) == []
        kube = drivers.for_event({"cluster_id": "k", "engine": "kubernetes", "engine_host": None})
        assert kube is not None and kube.engine == "kubernetes"  # connected through catalog at its first call
        assert drivers.for_event({"cluster_id": "n", "engine": "nomad", "engine_host": None}) is None
        assert drivers.for_event({"service_id": "s"}) is drivers.default()  # an event from before clusters were named
    finally:
        await drivers.close()


async def test_an_unreachable_engine_fails_with_its_address(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    drivers = Drivers(
        DeployerSettings(installation_id="ce", docker_host=engine.host, edge_admin_url="http://127.0.0.1:9")
    )
    missing = f"unix://{tmp_path}/no-engine.sock"
    try:
        svc = job()
        state = state_of(svc, missing)
        with pytest.raises(Exception) as failed:  # noqa: PT011 - the message is what matters
            await drivers.for_state(state).apply(state, svc, BASE_IMAGE, "dep-1", _lines)
        message = str(failed.value)
        assert "Cannot connect to Docker Engine" in message and f"{tmp_path}/no-engine.sock" in message, message
    finally:
        await drivers.close()
