"""Drift correction on Kubernetes: what a successful apply made is recorded in the cluster, and put back when it
changes behind Slipway's back (a `kubectl scale`, an edited variable, a deleted Service).

After each successful apply the driver keeps the objects it applied in one Secret per service
(`<internal host>-applied`, labelled `slipway.dev/record=applied`; gzipped JSON, written only when it differs).
`reconcile()` lists those records across the cluster and syncs each object again: the dry-run comparison of
`sync` means an object that still matches is not written, so a quiet cluster costs reads only. A stopped
service has no record (nothing to put back), an uninstalled one loses it with its other objects. A field
another manager added to an object (say `kubectl set env`) stays: server-side apply leaves other managers'
fields alone; the values Slipway owns are what is corrected. Pods read their variables and files when they
start, so a pod started while a Secret was edited runs with the edit: when a Secret or ConfigMap is put back,
the service's Deployment or StatefulSet is restarted (rolled, as a changed variable rolls it) under the
`slipway-drift` field manager, whose restart annotation the next apply leaves in place.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from deployer.runtime.kubernetes import manifests as M
from deployer.runtime.kubernetes.api import KubeApi, KubeError, kind_of
from slipway.desired import DesiredState, ServiceSpec

log = logging.getLogger("deployer.runtime.kubernetes")
SECRETS = kind_of("v1", "Secret")
L_RECORD = M.L + "record"
L_CLUSTER = M.L + "cluster-id"
CONFIG_KINDS = ("Secret", "ConfigMap")  # what pods read when they start
ROLLED_KINDS = ("Deployment", "StatefulSet")  # what keeps pods running that read it (a CronJob's next run reads anew)
DRIFT_MANAGER = "slipway-drift"


def record_name(service: ServiceSpec) -> str:
    return f"{M.workload_name(service)}-applied"


def record(
    state: DesiredState, service: ServiceSpec, installation: str, objects: list[dict[str, Any]], cluster_id: str = ""
) -> dict[str, Any]:
    """The Secret that keeps `objects` (deterministic bytes: an unchanged apply leaves it unwritten), labelled with
    the Slipway cluster that applied them: two clusters registered on one Kubernetes (two organizations bringing
    the same kubeconfig) each put back only their own, under the locks of their own deploys."""
    document = json.dumps(objects, sort_keys=True, separators=(",", ":")).encode()
    packed = base64.b64encode(gzip.compress(document, mtime=0)).decode()
    labels = {**M.service_labels(state, service, installation), L_RECORD: "applied", L_CLUSTER: cluster_id or "none"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": record_name(service), "namespace": M.namespace_of(state), "labels": labels},
        "type": "Opaque",
        "data": {"objects": packed},
    }


def recorded_objects(secret: dict[str, Any]) -> list[dict[str, Any]]:
    packed = secret.get("data", {}).get("objects", "")
    return list(json.loads(gzip.decompress(base64.b64decode(packed))))


class Drift:
    """Mixed into the driver: its `api`, `installation`, `sync` and per-service locks."""

    api: KubeApi
    installation: str
    cluster_id: str
    sync: Callable[[dict[str, Any]], Awaitable[bool]]
    last_changes: list[str]
    _locks: dict[str, asyncio.Lock]

    async def _remember(self, state: DesiredState, service: ServiceSpec, objects: list[dict[str, Any] | None]) -> bool:
        kept = [o for o in objects if o is not None]
        return await self.sync(record(state, service, self.installation, kept, self.cluster_id))

    async def _forget(self, namespace: str, service: ServiceSpec) -> None:
        await self.api.delete(SECRETS, namespace, record_name(service))

    async def reconcile(self) -> list[str]:
        """Put back every recorded object that drifted; `kind/namespace/name` of each one written. A service
        being deployed or stopped right now (its lock held) is left to that work."""
        selector = f"{L_RECORD}=applied,{M.L_INSTALLATION}={self.installation},{L_CLUSTER}={self.cluster_id or 'none'}"
        corrected: list[str] = []
        for secret in (await self.api.list(SECRETS, None, selector))["items"]:
            service_id = secret["metadata"].get("labels", {}).get(M.L_SERVICE, "")
            lock = self._locks.setdefault(service_id, asyncio.Lock())
            if lock.locked():
                continue
            async with lock:
                # read again under the lock: a deploy that finished since the list wrote a newer record, and
                # putting back the listed one would undo that deploy
                meta = secret["metadata"]
                fresh = await self.api.get(SECRETS, meta.get("namespace"), meta["name"])
                if fresh is None:
                    continue
                try:
                    objects = recorded_objects(fresh)
                except (ValueError, OSError, EOFError) as exc:
                    log.warning("unreadable applied record %s: %s", meta["name"], exc)
                    continue
                config_put_back = False
                for obj in objects:
                    meta = obj["metadata"]
                    try:
                        if await self.sync(obj):
                            changed = ", ".join(self.last_changes)
                            corrected.append(f"{obj['kind']}/{meta.get('namespace')}/{meta['name']} ({changed})")
                            config_put_back = config_put_back or obj["kind"] in CONFIG_KINDS
                    except KubeError as exc:
                        log.warning("could not correct %s %s: %s", obj["kind"], meta["name"], exc)
                if config_put_back:
                    corrected += await self._restart([o for o in objects if o["kind"] in ROLLED_KINDS])
        if corrected:
            log.warning("drift corrected: %s", ", ".join(corrected))
        return corrected

    async def _restart(self, workloads: list[dict[str, Any]]) -> list[str]:
        """Roll each workload's pods (a new template annotation), so none keeps a value read while it drifted."""
        patch = M.restart_patch(datetime.now(UTC).isoformat(timespec="seconds"))
        done: list[str] = []
        for obj in workloads:
            meta = obj["metadata"]
            try:
                await self.api.patch(
                    kind_of(obj["apiVersion"], obj["kind"]),
                    meta["namespace"],
                    meta["name"],
                    patch,
                    manager=DRIFT_MANAGER,
                )
            except KubeError as exc:
                log.warning("could not restart %s %s: %s", obj["kind"], meta["name"], exc)
                continue
            done.append(f"{obj['kind']}/{meta['namespace']}/{meta['name']} (restarted: its configuration was put back)")
        return done
