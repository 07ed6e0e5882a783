"""`make clean` leaves nothing on the engine that nobody owns: `slipway-stack purge` removes the installation's
containers (running or stopped), the volumes they mount and its networks, and nothing of another installation."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slipway_stack.engine import BASE_IMAGE, ContainerEngine
from slipway_stack.purge import INSTALLATION_LABEL

from .e2e_world import engine_list


class Installation:
    """Workloads as the deployer makes them for one installation: labelled containers, a volume, a network."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.id = f"purge-{uuid.uuid4().hex[:10]}"
        self.label = {INSTALLATION_LABEL: self.id, "slipway.managed-by": "slipway-deployer"}
        self.network = f"slipway-{self.id}"
        self.volume = f"slipway-vol-{self.id}"
        self.containers: list[str] = []

    def create(self) -> None:
        r = self.client.post("/networks/create", json={"Name": self.network, "Driver": "bridge", "Labels": self.label})
        assert r.status_code == 201, r.text
        for n, running in enumerate((True, False)):
            config = {
                "Image": BASE_IMAGE,
                "Cmd": ["/bin/sh", "-c", "exec sleep 3600"],
                "Labels": self.label,
                "HostConfig": {
                    "Mounts": [{"Type": "volume", "Source": self.volume, "Target": "/data"}],
                    "NetworkMode": self.network,
                },
            }
            r = self.client.post("/containers/create", params={"name": f"{self.network}-{n}"}, json=config)
            assert r.status_code == 201, r.text
            self.containers.append(r.json()["Id"])
            if running:
                assert self.client.post(f"/containers/{r.json()['Id']}/start").status_code in (204, 304)

    def left(self) -> dict[str, list[str]]:
        filters = json.dumps({"label": [f"{INSTALLATION_LABEL}={self.id}"]})
        containers = engine_list(self.client, "/containers/json", all="true", filters=filters)
        networks = engine_list(self.client, "/networks", filters=filters)
        volume = self.client.get(f"/volumes/{self.volume}")
        return {
            "containers": [c["Id"] for c in containers],
            "networks": [n["Name"] for n in networks],
            "volumes": [self.volume] if volume.status_code == 200 else [],
        }

    def remove(self) -> None:
        for container in self.containers:
            self.client.delete(f"/containers/{container}", params={"force": "true"})
        self.client.delete(f"/volumes/{self.volume}")
        self.client.delete(f"/networks/{self.network}")


@pytest.fixture
def installations(engine: ContainerEngine) -> Iterator[tuple[Installation, Installation]]:
    with engine.client() as client:
        mine, theirs = Installation(client), Installation(client)
        try:
            mine.create()
            theirs.create()
            yield mine, theirs
        finally:
            mine.remove()
            theirs.remove()


def purge(state: Path, engine: ContainerEngine) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_HOST": engine.host}
    argv = [sys.executable, "-m", "slipway_stack", "--state-dir", str(state), "purge"]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_purge_removes_the_installations_workloads_and_nothing_else(
    tmp_path: Path, engine: ContainerEngine, installations: tuple[Installation, Installation]
) -> None:
    mine, theirs = installations
    assert mine.left()["containers"] and mine.left()["volumes"] and mine.left()["networks"]
    (tmp_path / "stack.json").write_text(json.dumps({"installation_id": mine.id}))

    done = purge(tmp_path, engine)
    assert done.returncode == 0, done.stderr
    assert "2 container(s), 1 volume(s), 1 network(s)" in done.stdout, done.stdout
    assert mine.left() == {"containers": [], "networks": [], "volumes": []}
    left = theirs.left()  # another installation on the same engine keeps everything
    assert len(left["containers"]) == 2 and left["networks"] == [theirs.network] and left["volumes"], left

    again = purge(tmp_path, engine)  # a second clean finds nothing and says so
    assert again.returncode == 0 and "0 container(s)" in again.stdout, again.stdout + again.stderr


def test_purge_without_an_installation_removes_nothing(
    tmp_path: Path, engine: ContainerEngine, installations: tuple[Installation, Installation]
) -> None:
    done = purge(tmp_path, engine)  # no stack.json: never "every Slipway workload"
    assert done.returncode == 0 and "nothing deployed to remove" in done.stdout, done.stdout + done.stderr
    assert all(len(i.left()["containers"]) == 2 for i in installations)
