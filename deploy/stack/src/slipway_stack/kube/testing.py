"""Pytest plugin: `kubernetes`, the session's real one-node cluster (the one the session's stack runs).

The session's `stack` starts with SLIPWAY_KUBERNETES=embedded, so tests share one cluster and the stack's
loopback registry feeds it. When another stack's embedded cluster already runs on this machine (one per
machine), the session registers and uses that one instead; `owned` tells which.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from slipway_stack.kube.build import KubeBinaries
from slipway_stack.kube.cluster import LOCK, EmbeddedKubernetes


@dataclass
class KubeCluster:
    kubeconfig: Path
    registry: str  # host:port of a registry the node pulls from over plain HTTP
    owned: bool  # started by this session's stack (False: another stack's cluster on this machine)

    def _document(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.kubeconfig.read_text())  # type: ignore[no-any-return]

    @property
    def server(self) -> str:
        return str(self._document()["clusters"][0]["cluster"]["server"])

    def client(self, timeout: float = 30.0) -> httpx.Client:
        document = self._document()
        ca = base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"])
        with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as f:
            f.write(ca)
        context = ssl.create_default_context(cafile=f.name)
        os.unlink(f.name)
        token = document["users"][0]["user"]["token"]
        return httpx.Client(
            base_url=self.server, verify=context, timeout=timeout, headers={"Authorization": f"Bearer {token}"}
        )

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [KubeBinaries().path("kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.run(argv, capture_output=True, text=True, check=check, input=input, timeout=120)


def running_cluster() -> Path | None:
    """The state directory of an embedded cluster another stack runs on this machine, if any."""
    probe = EmbeddedKubernetes(Path("/nonexistent"), Path("/nonexistent"), Path("/nonexistent"), registries=[])
    return probe.holder()


def lock_registries() -> list[str]:
    try:
        return list(json.loads(LOCK.read_text()).get("registries", []))
    except (OSError, ValueError):
        return []


@pytest.fixture(scope="session")
def kubernetes(stack) -> Iterator[KubeCluster]:  # type: ignore[no-untyped-def]
    own = stack.state_dir / "kubernetes" / "kubeconfig"
    registry = f"127.0.0.1:{stack.ports['registry']}"
    if stack.kubernetes_owned:
        yield KubeCluster(own, registry, owned=True)
        return
    other = stack.kubernetes_state
    yield KubeCluster(other / "kubeconfig", (lock_registries() or [registry])[0], owned=False)


@pytest.fixture(scope="session")
def kube_busybox(kubernetes: KubeCluster, stack) -> str:  # type: ignore[no-untyped-def]
    """The busybox base image, pushed into the registry the node pulls from."""
    target = f"{kubernetes.registry}/slipway-busybox:k8s-test"
    env = {**os.environ, "CONTAINERS_CONF": str(stack.state_dir / "engine" / "containers.conf")}
    subprocess.run(
        ["podman", "push", "--tls-verify=false", "localhost/slipway-busybox:latest", target],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    return target
