"""A container network's bridge keeps its MAC address while containers join and leave, once pinned."""

from __future__ import annotations

import uuid
from pathlib import Path

from deployer.runtime import hostnet
from slipway_stack.engine import BASE_IMAGE, ContainerEngine


def test_a_pinned_bridge_keeps_its_address_while_containers_come_and_go(engine: ContainerEngine) -> None:
    name = f"slipway-pintest-{uuid.uuid4().hex[:6]}"
    created: list[str] = []
    with engine.client() as api:
        assert api.post("/networks/create", json={"Name": name}).status_code in (200, 201)

        def start(n: str) -> str:
            r = api.post(
                "/containers/create",
                params={"name": f"{name}-{n}"},
                json={"Image": BASE_IMAGE, "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": name}},
            )
            assert r.status_code == 201, r.text
            cid = r.json()["Id"]
            created.append(cid)
            assert api.post(f"/containers/{cid}/start").status_code == 204
            return str(cid)

        try:
            gateway = api.get(f"/networks/{name}").json()["IPAM"]["Config"][0]["Gateway"]
            assert hostnet.pin_bridge(gateway) is None  # Podman creates the bridge with the first container
            start("first")
            bridge = hostnet.interface_with_address(gateway)
            assert bridge is not None and (Path("/sys/class/net") / bridge / "bridge").exists()
            address = (Path("/sys/class/net") / bridge / "address").read_text()
            assert hostnet.pin_bridge(gateway) == bridge and hostnet.is_pinned(bridge)
            assert (Path("/sys/class/net") / bridge / "address").read_text() == address  # pinned as it was
            seen = set()
            for n in range(8):  # unpinned, a bridge takes its lowest port MAC: joins and leaves would move it
                cid = start(str(n))
                seen.add((Path("/sys/class/net") / bridge / "address").read_text())
                assert api.delete(f"/containers/{cid}", params={"force": "true"}).status_code in (200, 204)
                seen.add((Path("/sys/class/net") / bridge / "address").read_text())
            assert seen == {address}
            assert hostnet.pin_bridge("192.0.2.1") is None  # no such interface here: nothing to do
        finally:
            for cid in created:
                api.delete(f"/containers/{cid}", params={"force": "true"})
            api.delete(f"/networks/{name}")
