"""Following a Deployment's rollout to readiness, and naming why it failed (with a hint for each cause)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from deployer.images import database_pull_hint
from deployer.runtime.base import LogSink, RolloutFailed
from deployer.runtime.kubernetes.api import Kind, KubeApi, kind_of
from slipway.desired import ServiceSpec
from slipway.tasks import cancel_and_wait

DEPLOYMENTS = kind_of("apps/v1", "Deployment")
STATEFULSETS = kind_of("apps/v1", "StatefulSet")
REPLICASETS = kind_of("apps/v1", "ReplicaSet")
PODS = kind_of("v1", "Pod")
REVISION = "deployment.kubernetes.io/revision"

log = logging.getLogger("deployer.runtime.kubernetes")

HINTS = {
    "ImagePullBackOff": "the image cannot be pulled: check its name and tag, and the registry's credentials",
    "ErrImagePull": "the image cannot be pulled: check its name and tag, and the registry's credentials",
    "InvalidImageName": "the image name is not valid",
    "CrashLoopBackOff": "the container keeps exiting: its last output is above",
    "CreateContainerConfigError": "the container's configuration is invalid (a missing Secret or variable?)",
    "OOMKilled": "the container ran out of memory: raise the service's memory",
    "Unschedulable": "no node can run the pod: lower the CPU or memory it asks for, or add capacity",
    "Readiness": "the readiness probe never succeeded: check its port and path, and that the app listens on it",
}


PULL_FAILURES = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName")


@dataclass
class Progress:
    ready: bool
    message: str = ""


def rollout_progress(deployment: dict[str, Any]) -> Progress:
    """Ready once the controller saw this generation and every replica is updated and available."""
    meta, spec, status = deployment["metadata"], deployment.get("spec", {}), deployment.get("status", {})
    want = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return Progress(False, "waiting for the controller")
    for condition in status.get("conditions", []):
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            raise RolloutFailed(f"the rollout made no progress in {spec.get('progressDeadlineSeconds')} s")
    updated, available = int(status.get("updatedReplicas", 0)), int(status.get("availableReplicas", 0))
    total = int(status.get("replicas", 0))
    ready = updated >= want and available >= want and total <= want
    return Progress(ready, f"{updated}/{want} updated, {available} available, {total - updated} old")


def set_progress(found: dict[str, Any]) -> Progress:
    """A StatefulSet is rolled out once every replica runs the update revision and is ready."""
    meta, spec, status = found["metadata"], found.get("spec", {}), found.get("status", {})
    want = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return Progress(False, "waiting for the controller")
    updated, ready = int(status.get("updatedReplicas", 0)), int(status.get("readyReplicas", 0))
    current = status.get("currentRevision") == status.get("updateRevision")
    done = ready >= want and (current or updated >= want) and int(status.get("replicas", 0)) <= want
    return Progress(done, f"{updated}/{want} updated, {ready} ready")


def pod_problem(pod: dict[str, Any], readiness_budget: float, now: float) -> tuple[str, str] | None:
    """(cause, detail) when a new pod can no longer become ready by itself."""
    status = pod.get("status", {})
    for condition in status.get("conditions", []):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            message = str(condition.get("message") or "")
            if "PersistentVolumeClaim" not in message:  # a claim being bound: the scheduler tries again
                return "Unschedulable", message
    for c in status.get("containerStatuses", []):
        waiting = (c.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"):
            return reason, str(waiting.get("message") or "")
        last = (c.get("lastState") or {}).get("terminated") or {}
        if last.get("reason") == "OOMKilled":
            return "OOMKilled", f"exit code {last.get('exitCode')}"
        if reason == "CrashLoopBackOff" or (last and int(c.get("restartCount", 0)) >= 2):
            return "CrashLoopBackOff", f"exit code {last.get('exitCode')}, {c.get('restartCount')} restarts"
        running = (c.get("state") or {}).get("running")
        if running and not c.get("ready") and readiness_budget > 0:
            started = _epoch(running.get("startedAt"))
            if started is not None and now - started > readiness_budget:
                return "Readiness", f"not ready {now - started:.0f} s after it started"
    return None


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def readiness_budget(service: ServiceSpec) -> float:
    p = service.readiness_probe
    if p is None:
        return 0.0
    return p.initial_delay_seconds + p.period_seconds * (p.failure_threshold + 1) + p.timeout_seconds


async def new_pods(api: KubeApi, namespace: str, deployment: dict[str, Any], service_id: str) -> list[dict[str, Any]]:
    """The pods of the Deployment's current revision."""
    revision = deployment["metadata"].get("annotations", {}).get(REVISION)
    sets = await api.list(REPLICASETS, namespace, f"slipway.dev/service-id={service_id}")
    current = [rs for rs in sets["items"] if rs["metadata"].get("annotations", {}).get(REVISION) == revision]
    if not current:
        return []
    template_hash = current[0]["metadata"].get("labels", {}).get("pod-template-hash")
    pods = await api.list(PODS, namespace, f"slipway.dev/service-id={service_id},pod-template-hash={template_hash}")
    return list(pods["items"])


async def last_output(api: KubeApi, namespace: str, pod: str, previous: bool) -> str:
    path = f"{PODS.path(namespace, pod)}/log"
    query = {"tailLines": "20", "container": "app", "previous": "true" if previous else "false"}
    try:
        lines = [line async for line in api.stream(path, query, timeout=10)]
    except Exception:  # noqa: BLE001 - the output is a hint only
        return ""
    return b"".join(lines).decode(errors="replace").strip()


async def set_pods(api: KubeApi, namespace: str, found: dict[str, Any], service_id: str) -> list[dict[str, Any]]:
    """The pods of the StatefulSet's update revision."""
    revision = found.get("status", {}).get("updateRevision")
    if not revision:
        return []
    pods = await api.list(PODS, namespace, f"slipway.dev/service-id={service_id},controller-revision-hash={revision}")
    return list(pods["items"])


class Nudges:
    """Wakes a rollout's wait as soon as its workload or one of its pods changes: a watch per kind (resumed from
    the last resourceVersion it saw, relisted when that is too old), at the latest every `fallback` seconds."""

    def __init__(self, api: KubeApi, namespace: str, selector: str, kinds: tuple[Kind, ...]) -> None:
        self.api, self.namespace, self.selector, self.kinds = api, namespace, selector, kinds
        self.changed = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Nudges:
        self.tasks = [asyncio.create_task(self._watch(kind)) for kind in self.kinds]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self.tasks)

    async def _watch(self, kind: Kind) -> None:
        version, delay = "", 0.5
        while True:
            try:
                if not version:
                    listed = await self.api.list(kind, self.namespace, self.selector)
                    version = str(listed.get("metadata", {}).get("resourceVersion", ""))
                async for event in self.api.watch(kind, self.namespace, self.selector, version, 120):
                    obj = event.get("object", {})
                    if event.get("type") == "ERROR":
                        version = ""  # 410 Gone (too old) or another error: list again
                        break
                    version = str(obj.get("metadata", {}).get("resourceVersion", version))
                    if event.get("type") != "BOOKMARK":
                        self.changed.set()
                delay = 0.5
            except Exception as exc:  # noqa: BLE001 - a broken watch only slows the wait down to its fallback
                log.debug("rollout watch of %s: %s", kind.plural, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def wait(self, fallback: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), fallback)
        self.changed.clear()


async def wait_rolled_out(
    api: KubeApi,
    namespace: str,
    name: str,
    service: ServiceSpec,
    deadline_s: float,
    log: LogSink,
    stateful: bool = False,
) -> None:
    """Until the Deployment (or StatefulSet) is rolled out; RolloutFailed naming the cause (and a hint)."""
    kind = STATEFULSETS if stateful else DEPLOYMENTS
    async with Nudges(api, namespace, f"slipway.dev/service-id={service.id}", (kind, PODS)) as nudges:
        await _follow(api, namespace, name, service, deadline_s, log, stateful, kind, nudges)


async def _follow(
    api: KubeApi,
    namespace: str,
    name: str,
    service: ServiceSpec,
    deadline_s: float,
    log: LogSink,
    stateful: bool,
    kind: Kind,
    nudges: Nudges,
) -> None:
    started = time.monotonic()
    said = ""
    budget = readiness_budget(service)
    while True:
        found = await api.get(kind, namespace, name)
        if found is None:
            raise RolloutFailed(f"{service.name}: the {kind.plural[:-1]} disappeared during the rollout")
        progress = set_progress(found) if stateful else rollout_progress(found)
        if progress.ready:
            return
        if progress.message != said:
            await log(f"{service.name}: {progress.message}")
            said = progress.message
        pods = await (set_pods if stateful else new_pods)(api, namespace, found, service.id)
        for pod in pods:
            problem = pod_problem(pod, budget, time.time())
            if problem is not None:
                cause, detail = problem
                text = f"{cause}: {detail}".rstrip(": ")
                if cause in ("CrashLoopBackOff", "OOMKilled"):
                    output = await last_output(api, namespace, pod["metadata"]["name"], previous=True)
                    if output:
                        await log(f"{service.name}: last output of {pod['metadata']['name']}:\n{output}")
                hint = HINTS[cause] + (database_pull_hint(service) if cause in PULL_FAILURES else "")
                raise RolloutFailed(f"{text} — {hint}")
        if time.monotonic() - started > deadline_s:
            raise RolloutFailed(f"{service.name}: not rolled out after {deadline_s:.0f} s ({progress.message})")
        await nudges.wait(1.0)  # a change of the workload or a pod, or a second: whichever comes first
