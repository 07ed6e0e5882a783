"""`make clean`'s engine step: what this installation deployed on the container engine goes before its state does.

`make down` stops Slipway's processes and leaves the deployed containers running (the next `make up` adopts and
routes them again). `make clean` deletes the state that owns them, so it first removes, by the installation's
label (`slipway.installation=<id>`, which every container and network the deployer creates carries): the
containers (running or stopped), the named volumes they mount (their data: `make clean` deletes all local data),
and the networks. Another installation's workloads on a shared engine are never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from slipway.desired import INSTALLATION_LABEL


class PurgeError(RuntimeError):
    """The engine refused a removal; the message names what and why."""


@dataclass
class Purged:
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)


def _check(r: httpx.Response, what: str) -> None:
    if r.status_code not in (200, 204, 404):  # 404: gone already (a second clean, a container's auto-removal)
        raise PurgeError(f"could not remove {what}: {r.status_code} {r.text[:300]}")


def purge_installation(client: httpx.Client, installation_id: str) -> Purged:
    """Remove this installation's containers, the volumes they mount and its networks from the engine."""
    if not installation_id:
        raise ValueError("an installation id is needed: without it every Slipway workload would match")
    filters = json.dumps({"label": [f"{INSTALLATION_LABEL}={installation_id}"]})
    listed = client.get("/containers/json", params={"all": "true", "filters": filters})
    listed.raise_for_status()
    purged = Purged()
    volumes: set[str] = set()
    for container in listed.json():
        volumes |= {m["Name"] for m in container.get("Mounts") or [] if m.get("Type") == "volume" and m.get("Name")}
        name = (container.get("Names") or [container["Id"]])[0].lstrip("/")
        _check(client.delete(f"/containers/{container['Id']}", params={"force": "true"}), f"the container {name}")
        purged.containers.append(name)
    for volume in sorted(volumes):
        _check(client.delete(f"/volumes/{volume}"), f"the volume {volume}")
        purged.volumes.append(volume)
    networks = client.get("/networks", params={"filters": filters})
    networks.raise_for_status()
    for network in networks.json():
        _check(client.delete(f"/networks/{network['Id']}"), f"the network {network.get('Name')}")
        purged.networks.append(str(network.get("Name")))
    return purged
