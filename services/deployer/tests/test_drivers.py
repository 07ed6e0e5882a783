"""Picking a cluster's driver: one driver per docker engine or Kubernetes cluster, scoped to this installation."""

from __future__ import annotations

import pytest

from deployer.drivers import INSTALLATION_LABEL, Drivers
from deployer.settings import DeployerSettings
from slipway.desired import ClusterTarget, DesiredState


def state(engine: str, host: str | None = None, kubeconfig: str | None = None) -> DesiredState:
    return DesiredState(
        organization_id="o",
        project_id="p",
        environment_id="e",
        environment_name="dev",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c", engine=engine, engine_host=host, base_domain="localhost", kubeconfig=kubeconfig),
        stages=[],
        services=[],
    )


async def test_drivers_are_scoped_to_the_installation_and_shared_per_engine() -> None:
    drivers = Drivers(DeployerSettings(installation_id="inst-a", docker_host="unix:///tmp/none.sock"))
    one = drivers.for_state(state("podman"))
    assert one is drivers.for_state(state("docker")) is drivers.default()  # the local engine: one driver
    assert one.extra_labels == {INSTALLATION_LABEL: "inst-a"}  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="Slipway deploys to docker, podman or kubernetes"):
        drivers.for_state(state("nomad"))
    kube = drivers.for_state(state("kubernetes", kubeconfig="apiVersion: v1"))
    assert kube.engine == "kubernetes" and kube is drivers.for_state(state("kubernetes"))  # sealed: no kubeconfig
    assert kube is drivers.for_state(state("kubernetes", kubeconfig="apiVersion: v1"))
    replaced = drivers.for_state(state("kubernetes", kubeconfig="apiVersion: v1 # rotated"))
    assert replaced is not kube and replaced.kubeconfig.endswith("rotated")  # type: ignore[attr-defined]
    await drivers.close()


async def test_an_environments_driver_is_its_clusters_and_the_lookup_is_remembered() -> None:
    drivers = Drivers(DeployerSettings(installation_id="inst-a", docker_host="unix:///tmp/none.sock"))
    asked: list[str] = []
    clusters = {
        "env-remote": {"cluster_id": "c2", "cluster_engine": "podman", "cluster_engine_host": "tcp://10.0.0.5:2375"},
        "env-k8s": {"cluster_id": "c3", "cluster_engine": "kubernetes", "cluster_engine_host": None},
        "env-old": {"cluster_id": "c1"},  # a catalog that names no engine yet
    }

    async def scope(environment_id: str) -> dict[str, object]:
        asked.append(environment_id)
        return {"environment_id": environment_id, **clusters[environment_id]}

    remote = await drivers.for_environment("env-remote", scope)
    assert remote.docker_host == "tcp://10.0.0.5:2375"  # type: ignore[attr-defined]
    assert remote is not drivers.default()
    assert await drivers.for_environment("env-remote", scope) is remote
    assert asked == ["env-remote"]  # an environment never changes cluster: asked once
    assert await drivers.for_environment("env-old", scope) is drivers.default()
    kube = await drivers.for_environment("env-k8s", scope)
    assert kube.engine == "kubernetes"
    with pytest.raises(Exception, match="no kubeconfig known yet"):  # no catalog connection in this test
        await kube.status("env-k8s")
    connections: list[str] = []

    async def connection(cluster_id: str) -> dict[str, object]:
        connections.append(cluster_id)
        return {"kubeconfig": None}

    drivers.connection = connection
    with pytest.raises(Exception, match="c3 has no kubeconfig: upload one"):
        await kube.status("env-k8s")
    assert connections == ["c3"]
    await drivers.close()
