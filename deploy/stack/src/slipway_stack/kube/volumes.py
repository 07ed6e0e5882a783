"""Persistent volumes for the embedded node: a `slipway-local` StorageClass (the default) and its provisioner.

A claim of that class gets a directory under `<state>/volumes/<claim uid>` and a hostPath PersistentVolume
bound to it at once; when the claim goes, its volume is Released and this provisioner removes the directory
and the volume (reclaim policy Delete: a service's data goes with the service). One node, so a host directory
is the whole story; what the kubelet mounts from it is cleaned up by the kubelet.

Run: `python -m slipway_stack.kube.volumes --kubeconfig <file> --state <cluster state dir>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx

from slipway_stack.kube.dns import _client

log = logging.getLogger("slipway.kube.volumes")
CLASS = "slipway-local"
PROVISIONER = "slipway.dev/local"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def volume_for(claim: dict[str, Any], root: Path) -> dict[str, Any]:
    """A hostPath volume pre-bound to `claim`, of the size it asked for."""
    meta = claim["metadata"]
    size = claim.get("spec", {}).get("resources", {}).get("requests", {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": claim.get("spec", {}).get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "hostPath": {"path": str(root / meta["uid"]), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # any image's user may own its data (images that start as root chown it themselves)


async def ensure_class(client: httpx.AsyncClient) -> None:
    found = await client.get(f"/apis/storage.k8s.io/v1/storageclasses/{CLASS}")
    if found.status_code == 404:
        created = await client.post("/apis/storage.k8s.io/v1/storageclasses", json=storage_class())
        if created.status_code not in (201, 409):
            raise RuntimeError(f"StorageClass {CLASS}: {created.status_code} {created.text[:200]}")


async def provision_once(client: httpx.AsyncClient, root: Path) -> tuple[int, int]:
    """Bind a new volume to every pending claim of the class, remove released volumes: (made, removed)."""
    made = removed = 0
    claims = (await client.get("/api/v1/persistentvolumeclaims")).json().get("items", [])
    for claim in claims:
        spec, status = claim.get("spec", {}), claim.get("status", {})
        if spec.get("storageClassName") != CLASS or status.get("phase") != "Pending" or spec.get("volumeName"):
            continue
        volume = volume_for(claim, root)
        _make_dir(Path(volume["spec"]["hostPath"]["path"]))
        answer = await client.post("/api/v1/persistentvolumes", json=volume)
        if answer.status_code == 201:
            made += 1
            log.warning("volume %s for %s/%s", volume["metadata"]["name"], claim["metadata"]["namespace"],
                        claim["metadata"]["name"])  # fmt: skip
        elif answer.status_code != 409:
            log.warning("volume for %s: %s %s", claim["metadata"]["name"], answer.status_code, answer.text[:200])
    volumes = (await client.get("/api/v1/persistentvolumes")).json().get("items", [])
    for volume in volumes:
        meta, phase = volume["metadata"], volume.get("status", {}).get("phase")
        if meta.get("annotations", {}).get(PROVISIONED_BY) != PROVISIONER or phase not in ("Released", "Failed"):
            continue
        path = Path(volume["spec"].get("hostPath", {}).get("path", ""))
        if path.parent == root:  # never anything outside the provisioner's own directory
            shutil.rmtree(path, ignore_errors=True)
        await client.delete(f"/api/v1/persistentvolumes/{meta['name']}")
        removed += 1
        log.warning("volume %s released: removed with its data", meta["name"])
    return made, removed


async def _main(kubeconfig: Path, root: Path, period: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _make_dir(root)
    async with _client(kubeconfig) as client:
        while not stop.is_set():
            try:
                await ensure_class(client)
                await provision_once(client, root)
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
                log.warning("volumes: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), period)
            except TimeoutError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m slipway_stack.kube.volumes", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True, help="the cluster's state directory")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between two passes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a pass every second: only what it does is logged
    asyncio.run(_main(args.kubeconfig, args.state / "volumes", args.period))


if __name__ == "__main__":
    main()
