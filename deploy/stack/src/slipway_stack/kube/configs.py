"""The embedded node's configuration files: kubeconfigs, containerd, the CNI bridge, kubelet, the pause image."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from slipway_stack.engine import busybox_rootfs

PAUSE_IMAGE = "localhost/slipway-pause:1"
CNI_NETWORK = "slipway-kube"
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Network:
    """Addresses of the one node: pods on `pod_cidr` behind `bridge` (whose gateway is the node IP)."""

    bridge: str = "slwkube0"
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"

    @property
    def node_ip(self) -> str:
        base = self.pod_cidr.split("/")[0].rsplit(".", 1)[0]
        return f"{base}.1"

    @property
    def prefix(self) -> int:
        return int(self.pod_cidr.split("/")[1])

    @property
    def api_service_ip(self) -> str:
        base = self.service_cidr.split("/")[0].rsplit(".", 1)[0]
        return f"{base}.1"


def kubeconfig(server: str, ca_cert: Path, user: str, token: str, name: str = "slipway-embedded") -> str:
    """A kubeconfig (JSON is YAML) for one token user; the CA is inlined so the file stands alone."""
    ca = base64.b64encode(ca_cert.read_bytes()).decode()
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }
    return json.dumps(document, indent=2) + "\n"


def containerd_config(root: Path, state: Path, socket: Path, cni_dir: Path, registries: list[str]) -> str:
    mirrors = "".join(
        f'\n  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{r}"]\n    endpoint = ["http://{r}"]\n'
        for r in registries
    )
    return f"""\
# Written by slipway-stack: the embedded Kubernetes node's containerd (KUBERNETES-LOCAL.md).
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_dir}"
{mirrors}"""


def cni_conflist(network: Network, ipam_dir: Path) -> str:
    document = {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": network.pod_cidr, "gateway": network.node_ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def kubelet_config(network: Network, port: int, healthz_port: int, ca_cert: Path) -> str:
    document = {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "address": network.node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "evictionHard": {},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "clusterDNS": [network.node_ip],
        "clusterDomain": CLUSTER_DOMAIN,
        "serializeImagePulls": False,
        # only the apiserver (its client cert, signed by the cluster CA) may call the kubelet
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
    }
    return json.dumps(document, indent=2) + "\n"


def pause_archive() -> bytes:
    """A docker-archive of the sandbox image (busybox waiting for SIGTERM): it cannot be pulled here."""
    layer = busybox_rootfs()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [PAUSE_IMAGE], "Layers": ["layer.tar"]}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("layer.tar", layer),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
