"""Picking a cluster's driver: docker-engine clusters only, one driver per engine, scoped to this installation."""

from __future__ import annotations

import pytest

from deployer.drivers import INSTALLATION_LABEL, Drivers
from deployer.settings import DeployerSettings
from slipway.desired import ClusterTarget, DesiredState


def state(engine: str, host: str | None = None) -> DesiredState:
    return DesiredState(
        organization_id="o",
        project_id="p",
        environment_id="e",
        environment_name="dev",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c", engine=engine, engine_host=host, base_domain="localhost"),
        stages=[],
        services=[],
    )


async def test_drivers_are_scoped_to_the_installation_and_shared_per_engine() -> None:
    drivers = Drivers(DeployerSettings(installation_id="inst-a", docker_host="unix:///tmp/none.sock"))
    one = drivers.for_state(state("podman"))
    assert one is drivers.for_state(state("docker")) is drivers.default()  # the local engine: one driver
    assert one.extra_labels == {INSTALLATION_LABEL: "inst-a"}  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="only docker-engine clusters"):
        drivers.for_state(state("kubernetes"))
    await drivers.close()
