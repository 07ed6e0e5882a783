"""Live state on Kubernetes: service statuses from the namespace's pods, and service logs from each pod's log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from deployer.runtime.base import InstanceStatus, LogLine, ServiceStatus
from deployer.runtime.kubernetes import manifests as M
from deployer.runtime.kubernetes.api import KubeApi, KubeError, kind_of
from deployer.runtime.kubernetes.jobs import job_status
from deployer.runtime.kubernetes.mirror import Mirror, Mirrors
from slipway.tasks import cancel_and_wait

log = logging.getLogger("deployer.runtime.kubernetes")
PODS = kind_of("v1", "Pod")
DEPLOYMENTS = kind_of("apps/v1", "Deployment")
STATEFULSETS = kind_of("apps/v1", "StatefulSet")
JOBS = kind_of("batch/v1", "Job")
MIRROR_WAIT_SECONDS = 15.0  # how long a status read waits for a new mirror's first lists
POD_SCAN_SECONDS = 30.0  # a followed service's pods come from its namespace's mirror: this is only a safety net


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def pod_state(pod: dict[str, Any]) -> tuple[str, str | None, int, int | None]:
    """(ServiceStateDto, reason, restarts, started at ms) of one pod."""
    status = pod.get("status", {})
    containers = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount", 0)) for c in containers)
    started = _ms(status.get("startTime"))
    if pod["metadata"].get("deletionTimestamp"):
        return "STOPPING", "Terminating", restarts, started
    phase = status.get("phase")
    if phase == "Succeeded":
        return "COMPLETED", None, restarts, started
    if phase == "Failed":
        return "ERROR", status.get("reason") or "Failed", restarts, started
    for c in containers:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
            return "ERROR", waiting["reason"], restarts, started
    if phase == "Running" and containers and all(c.get("ready") for c in containers):
        return "RUNNING", None, restarts, started
    return "STARTING", None, restarts, started


def service_state(states: list[str], wanted: int) -> str:
    if not states:
        return "STOPPED" if wanted == 0 else "STARTING"
    if "ERROR" in states:
        return "ERROR"
    if all(s == "RUNNING" for s in states):
        return "RUNNING"
    if all(s in ("STOPPING", "STOPPED") for s in states):
        return "STOPPING"
    return "STARTING"


class LiveState:
    api: KubeApi
    mirrors: Mirrors
    versions: Callable[[], Awaitable[M.Versions]]  # the driver's API discovery

    def _mirror(self, namespace: str, cron_version: str) -> Mirror:
        kinds = (DEPLOYMENTS, STATEFULSETS, PODS, JOBS, kind_of(cron_version, "CronJob"))
        return self.mirrors.get(namespace, kinds, f"{M.L_MANAGED}={M.MANAGED_BY}")

    async def live_status(self, namespace: str, cron_version: str = "batch/v1") -> list[ServiceStatus]:
        """One status per workload (Deployment, StatefulSet, job) of the namespace, pods as instances, read from
        the namespace's mirror (kept by watches while statuses are read: no API request per read)."""
        mirror = self._mirror(namespace, cron_version)
        if not await mirror.ready(MIRROR_WAIT_SECONDS):
            raise KubeError(0, f"the cluster did not list the workloads of {namespace} in {MIRROR_WAIT_SECONDS:.0f}s")
        kinds = mirror.kinds
        return statuses(*(mirror.items(k) for k in kinds))

    async def follow_logs(
        self, environment_id: str, service_id: str, since_ms: int | None = None, follow: bool = True
    ) -> AsyncIterator[LogLine]:
        """Every pod's output from `since_ms`; following, new pods join as they appear (one stream per pod,
        resumed after the last line seen when the API server ends it while the pod lives)."""
        namespace = M.kubernetes_namespace(environment_id)
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=10_000)
        followed: dict[str, asyncio.Task[None]] = {}

        async def one(pod: str) -> None:
            last_ms, at_last = since_ms, set[str]()  # resumes skip what was already sent (sinceTime is in seconds)
            following = follow
            while True:
                query: dict[str, Any] = {"container": "app", "timestamps": "true", "follow": str(following).lower()}
                if last_ms is not None:
                    query["sinceTime"] = _rfc3339(last_ms)
                try:
                    async for raw in self.api.stream(f"{PODS.path(namespace, pod)}/log", query):
                        line = _log_line(service_id, pod, raw)
                        if line is None or (last_ms is not None and line.timestamp_ms < last_ms):
                            continue
                        if line.timestamp_ms == last_ms and line.message in at_last:
                            continue
                        if line.timestamp_ms != last_ms:
                            last_ms, at_last = line.timestamp_ms, set()
                        at_last.add(line.message)
                        await queue.put(line)
                except KubeError as exc:
                    if exc.status == 404 or (exc.status == 400 and not following):  # gone, or never started
                        return
                    log.debug("log stream of %s: %s", pod, exc)
                if not following:
                    return
                await asyncio.sleep(1.0)
                found = await self.api.get(PODS, namespace, pod)
                if found is None:
                    return
                if found.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    following = False  # finished (a job's run, perhaps before its log could be followed): read it once

        def start(pods: list[dict[str, Any]]) -> None:
            for pod in pods:
                name = pod["metadata"]["name"]
                if name not in followed and pod["metadata"].get("labels", {}).get(M.L_SERVICE) == service_id:
                    followed[name] = asyncio.create_task(one(name))

        async def scan() -> None:
            try:
                if not follow:
                    start((await self.api.list(PODS, namespace, f"{M.L_SERVICE}={service_id}"))["items"])
                    await asyncio.gather(*followed.values(), return_exceptions=True)
                    return
                mirror = self._mirror(namespace, (await self.versions()).batch_cron)
                while True:  # new pods join as the namespace's mirror sees them
                    change = mirror.changed()
                    mirror.touch()
                    start(mirror.items(PODS))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(change.wait(), POD_SCAN_SECONDS)
            finally:
                await queue.put(None)

        scanner = asyncio.create_task(scan())
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            await cancel_and_wait(scanner, list(followed.values()))


def statuses(
    deployments: list[dict[str, Any]],
    sets: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    crons: list[dict[str, Any]],
) -> list[ServiceStatus]:
    """Each workload's ServiceStatus, its pods as instances."""
    by_service = _by_service(pods)
    out = _job_statuses(jobs, crons, by_service)
    for workload in [*deployments, *sets]:
        service_id = workload["metadata"].get("labels", {}).get(M.L_SERVICE)
        if not service_id:
            continue
        instances = _instances(by_service.get(service_id, []))
        wanted = int(workload.get("spec", {}).get("replicas", 1))
        out.append(ServiceStatus(service_id, service_state([i.state for i in instances], wanted), instances))
    return out


def _by_service(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Objects by the service id they are labelled with (unlabelled ones left out)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        service_id = obj["metadata"].get("labels", {}).get(M.L_SERVICE)
        if service_id:
            out.setdefault(service_id, []).append(obj)
    return out


def _instances(pods: list[dict[str, Any]]) -> list[InstanceStatus]:
    out = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        state, reason, restarts, started = pod_state(pod)
        out.append(InstanceStatus(pod["metadata"]["name"], state, restarts, started, None, reason))
    return out


def _job_statuses(
    jobs: list[dict[str, Any]], crons: list[dict[str, Any]], pods: dict[str, list[dict[str, Any]]]
) -> list[ServiceStatus]:
    """A job service's state is its last run's (a suspended CronJob with nothing running: STOPPED)."""
    runs = _by_service(jobs)
    suspended = {c["metadata"].get("labels", {}).get(M.L_SERVICE) for c in crons if c.get("spec", {}).get("suspend")}
    out = []
    for service_id, found in runs.items():
        instances = _instances(pods.get(service_id, []))
        state = job_status(found, pods.get(service_id, []))
        if service_id in suspended and state != "RUNNING":
            state = "STOPPED"
        out.append(ServiceStatus(service_id, state, instances))
    return out


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(stamp: str) -> int | None:
    """Epoch ms of a log line's RFC 3339 timestamp (nanoseconds allowed)."""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    digits = "".join(c for c in fraction if c.isdigit())[:3].ljust(3, "0")
    return int(seconds) * 1000 + int(digits)


def _log_line(service_id: str, pod: str, raw: bytes) -> LogLine | None:
    text = raw.decode(errors="replace").rstrip("\n")
    stamp, _, message = text.partition(" ")
    ms = parse_stamp(stamp)
    if ms is None:
        return None
    return LogLine(service_id, pod, "app", None, "stdout", ms, message)
