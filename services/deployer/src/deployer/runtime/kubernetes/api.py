"""A small Kubernetes REST client over kubernetes-asyncio: server-side apply, watches, logs, rate limit, retries.

Objects are plain dicts (what `kubectl get -o json` shows); paths come from `apiVersion` and `kind` through a
table of the kinds Slipway writes. Every request waits for a token bucket (`qps`, `burst`); 429 and 5xx answers
and connection errors are retried with exponential backoff (a Retry-After is honoured); a 403 is raised as
`Forbidden`, naming the verb and resource RBAC refused.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.kube_config import KubeConfigLoader

log = logging.getLogger("deployer.runtime.kubernetes")
FIELD_MANAGER = "slipway"


class KubeError(RuntimeError):
    """The API answered an error (`status`, its message) or could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Forbidden(KubeError):
    """RBAC refused a request: the message names the verb and the resource."""


@dataclass(frozen=True)
class Kind:
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name)}" if name else base


KINDS: dict[str, str] = {  # kind → plural
    "Namespace": "namespaces",
    "Secret": "secrets",
    "Service": "services",
    "Pod": "pods",
    "Event": "events",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "PersistentVolume": "persistentvolumes",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "ReplicaSet": "replicasets",
    "ServiceAccount": "serviceaccounts",
    "ControllerRevision": "controllerrevisions",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Ingress": "ingresses",
}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume"}


def kind_of(api_version: str, kind: str) -> Kind:
    return Kind(api_version, KINDS[kind], kind not in CLUSTER_SCOPED)


class TokenBucket:
    """At most `burst` requests at once, refilled at `qps` per second."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps, self.capacity = qps, float(max(burst, 1))
        self.tokens, self.stamp = self.capacity, time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.qps)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.qps)


def parse_kubeconfig(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)  # JSON is YAML too
    if not isinstance(document, dict):
        raise KubeError(0, "the cluster's kubeconfig is not a YAML mapping")
    return document


@dataclass
class Tally:
    """Requests one piece of work sent (a service's deploy): set with `counting()`, read after."""

    requests: int = 0
    writes: int = 0


_TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("kube_tally", default=None)


def counting() -> Tally:
    """Count the requests of the current task (and the tasks it starts) in a new Tally."""
    tally = Tally()
    _TALLY.set(tally)
    return tally


class KubeApi:
    """One cluster's API, from its kubeconfig text."""

    def __init__(
        self,
        kubeconfig: str | None,
        *,
        loader: Callable[[], Awaitable[str]] | None = None,
        qps: float = 20.0,
        burst: int = 40,
        retries: int = 5,
    ) -> None:
        self.kubeconfig = kubeconfig  # None: `loader` fetches it at the first request
        self.loader = loader
        self.bucket = TokenBucket(qps, burst)
        self.retries = retries
        self.writes = 0  # create/patch/delete requests sent (the benchmark counts them)
        self.requests = 0
        self._client: k8s.ApiClient | None = None
        self._lock = asyncio.Lock()
        self._preferred: dict[str, str] = {}

    async def _api(self) -> k8s.ApiClient:
        async with self._lock:
            if self._client is None:
                if self.kubeconfig is None:
                    if self.loader is None:
                        raise KubeError(0, "no kubeconfig for this cluster")
                    self.kubeconfig = await self.loader()
                configuration = k8s.Configuration()
                loader = KubeConfigLoader(config_dict=parse_kubeconfig(self.kubeconfig))
                await loader.load_and_set(configuration)
                self._client = k8s.ApiClient(configuration)
            return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """The JSON answer (None for 404 on GET/DELETE); raises KubeError/Forbidden, retrying 429/5xx."""
        api = await self._api()
        delay = 0.2
        for attempt in range(self.retries + 1):
            await self.bucket.take()
            write = method != "GET" and "dryRun" not in (query or {})
            self.requests += 1
            self.writes += write
            tally = _TALLY.get()
            if tally is not None:
                tally.requests += 1
                tally.writes += write
            try:
                response = await api.call_api(
                    path,
                    method,
                    query_params=list((query or {}).items()),
                    header_params={"Content-Type": content_type, "Accept": "application/json"},
                    body=body,
                    response_types_map={200: "object", 201: "object", 202: "object"},
                    auth_settings=["BearerToken"],
                    _return_http_data_only=True,
                    _request_timeout=timeout,
                )
                return response
            except ApiException as exc:
                status = int(exc.status or 0)
                if status == 404 and method in ("GET", "DELETE"):
                    return None
                retryable = status == 429 or status >= 500
                if not retryable or attempt == self.retries:
                    raise _error(method, path, exc) from None
                headers: Any = getattr(exc, "headers", None) or {}
                after = headers.get("Retry-After")
                wait = float(after) if after and str(after).isdigit() else delay
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if attempt == self.retries:
                    raise KubeError(0, f"Kubernetes API unreachable ({method} {path}): {exc}") from None
                wait = delay
            await asyncio.sleep(wait * (1 + random.random() / 4))
            delay = min(delay * 2, 5.0)
        raise KubeError(0, "unreachable")  # pragma: no cover - the loop returns or raises

    # -- objects -----------------------------------------------------------------------------------
    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        return await self.request("GET", kind.path(namespace, name))  # type: ignore[no-any-return]

    async def list(self, kind: Kind, namespace: str | None = None, selector: str | None = None) -> dict[str, Any]:
        query = {"labelSelector": selector} if selector else None
        found = await self.request("GET", kind.path(namespace), query=query)
        return found or {"items": [], "metadata": {}}  # type: ignore[no-any-return]

    async def apply(self, obj: dict[str, Any], force: bool = True, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of `obj` under Slipway's field manager (`dry_run`: what it would make, unwritten)."""
        meta = obj["metadata"]
        kind = kind_of(obj["apiVersion"], obj["kind"])
        query = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return await self.request(  # type: ignore[no-any-return]
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    async def patch(
        self, kind: Kind, namespace: str | None, name: str, body: dict[str, Any], manager: str | None = None
    ) -> Any:
        """A JSON merge patch; the fields it sets are owned by `manager` (one other than the applies' keeps them
        through later applies)."""
        return await self.request(
            "PATCH",
            kind.path(namespace, name),
            query={"fieldManager": manager} if manager else None,
            body=body,
            content_type="application/merge-patch+json",
        )

    async def delete(self, kind: Kind, namespace: str | None, name: str, background: bool = True) -> Any:
        body = {"propagationPolicy": "Background" if background else "Foreground"}
        return await self.request("DELETE", kind.path(namespace, name), body=body)

    async def delete_collection(self, kind: Kind, namespace: str, selector: str) -> Any:
        return await self.request(
            "DELETE", kind.path(namespace), query={"labelSelector": selector}, body={"propagationPolicy": "Background"}
        )

    async def preferred(self, group: str, versions: tuple[str, ...]) -> str:
        """The first of `versions` (newest first) the cluster serves for `group` (discovery, cached)."""
        if group not in self._preferred:
            served = await self.request("GET", f"/apis/{group}")
            names = {v.get("version") for v in (served or {}).get("versions", [])}
            pick = next((v for v in versions if v in names), versions[-1])
            self._preferred[group] = f"{group}/{pick}"
        return self._preferred[group]

    async def preferred_kind(self, group: str, versions: tuple[str, ...], plural: str) -> str:
        """The first of `versions` whose discovery lists `plural` (CronJob: batch/v1 from 1.21, v1beta1 before)."""
        key = f"{group}/{plural}"
        if key not in self._preferred:
            pick = versions[-1]
            for version in versions:
                served = await self.request("GET", f"/apis/{group}/{version}")
                if any(r.get("name") == plural for r in (served or {}).get("resources", [])):
                    pick = version
                    break
            self._preferred[key] = f"{group}/{pick}"
        return self._preferred[key]

    # -- streams -----------------------------------------------------------------------------------
    async def stream(self, path: str, query: dict[str, Any], timeout: float | None = None) -> AsyncIterator[bytes]:
        """The lines of a streaming answer (a watch or a followed log), until the server ends it."""
        api = await self._api()
        await self.bucket.take()
        self.requests += 1
        try:
            response = await api.call_api(
                path,
                "GET",
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(total=timeout, sock_read=None),
            )
        except ApiException as exc:
            raise _error("GET", path, exc) from None
        try:
            if response.status >= 400:
                text = (await response.read()).decode(errors="replace")
                raise KubeError(response.status, f"GET {path}: {response.status} {text[:300]}")
            async for line in response.content:
                yield line
        finally:
            response.release()

    async def watch(
        self, kind: Kind, namespace: str, selector: str, resource_version: str, timeout_seconds: int = 240
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events ({type, object}) from `resource_version`; ends when the server closes the watch."""
        query = {
            "watch": "true",
            "labelSelector": selector,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        async for line in self.stream(kind.path(namespace), query, timeout=timeout_seconds + 30):
            if line.strip():
                yield json.loads(line)


def _error(method: str, path: str, exc: ApiException) -> KubeError:
    status = int(exc.status or 0)
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    if status == 403:
        return Forbidden(
            403,
            f"the cluster's credentials may not {method} {path} ({message}): grant Slipway's service account "
            "that verb on that resource (see the README's Kubernetes section)",
        )
    return KubeError(status, f"{method} {path}: {status} {message}")
