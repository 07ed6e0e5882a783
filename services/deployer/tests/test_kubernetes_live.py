"""The Kubernetes driver's live state on the real cluster: statuses come from a watched mirror of the namespace (no
API request per read, changes seen as they happen), a followed log survives container restarts without a line
twice, and RBAC refusals name the verb and resource."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from deployer.runtime.kubernetes import manifests as M
from deployer.runtime.kubernetes.api import Forbidden, KubeApi, kind_of
from deployer.runtime.kubernetes.driver import KubernetesDriver
from slipway.desired import DesiredState, ServiceSpec, kubernetes_namespace
from slipway_stack.kube.testing import KubeCluster

pytestmark = pytest.mark.stack
NAMESPACES = kind_of("v1", "Namespace")
DEPLOYMENTS = kind_of("apps/v1", "Deployment")
PODS = kind_of("v1", "Pod")


async def until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f}s")
        await asyncio.sleep(0.2)


def deployment(service_id: str, image: str, command: str) -> dict[str, Any]:
    labels = {M.L_MANAGED: M.MANAGED_BY, M.L_SERVICE: service_id}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"w{service_id[:8]}", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {M.L_SERVICE: service_id}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "app", "image": image, "command": ["/bin/sh", "-c", command]}],
                },
            },
        },
    }


def one_service(environment_id: str) -> tuple[DesiredState, ServiceSpec, str]:
    """A desired state of one container service in the given environment, the service and its namespace."""
    from .fakes import container
    from .fakes import environment as state_of

    state = state_of([container("web")]).model_copy(update={"environment_id": environment_id})
    return state, state.services[0], kubernetes_namespace(environment_id)


def owned_secret(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    labels = {M.L_MANAGED: M.MANAGED_BY}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "stringData": data,
    }


@pytest.fixture
async def driver(kubernetes: KubeCluster) -> AsyncIterator[KubernetesDriver]:
    d = KubernetesDriver(kubernetes.kubeconfig.read_text(), None)
    yield d
    await d.close()


@pytest.fixture
async def environment(driver: KubernetesDriver) -> AsyncIterator[str]:
    environment_id = str(uuid.uuid4())
    namespace = kubernetes_namespace(environment_id)
    await driver.api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    account = kind_of("v1", "ServiceAccount")
    await until(lambda: driver.api.get(account, namespace, "default"), 60, "the default service account")
    yield environment_id
    await driver.api.delete(NAMESPACES, None, namespace)


async def test_statuses_are_read_from_a_watch_and_follow_changes(
    driver: KubernetesDriver, environment: str, kube_busybox: str
) -> None:
    namespace, service_id = kubernetes_namespace(environment), str(uuid.uuid4())
    await driver.api.request(
        "POST", DEPLOYMENTS.path(namespace), body=deployment(service_id, kube_busybox, "exec sleep 3600")
    )

    async def running() -> Any:
        found = [s for s in await driver.status(environment) if s.service_id == service_id]
        return found[0] if found and found[0].state == "RUNNING" else None

    first = await until(running, 120, "the service to run")
    mirror = driver.mirrors.mirrors[namespace]
    assert mirror.lists == 5  # Deployments, StatefulSets, Pods, Jobs, CronJobs: listed once each
    requests = driver.api.requests
    for _ in range(30):
        assert [s.state for s in await driver.status(environment) if s.service_id == service_id] == ["RUNNING"]
    assert driver.api.requests == requests  # thirty reads, no request: the mirror answers them

    await driver.api.delete(PODS, namespace, first.instances[0].name)

    async def replaced() -> Any:
        now = await running()
        return now if now and now.instances[0].name != first.instances[0].name else None

    again = await until(replaced, 120, "the replacement pod to run")
    assert len(again.instances) == 1
    assert driver.api.requests - requests <= 2 and mirror.lists == 5  # seen through the watches, not new lists


async def test_a_followed_log_survives_restarts_without_a_line_twice(
    driver: KubernetesDriver, environment: str, kube_busybox: str
) -> None:
    namespace, service_id = kubernetes_namespace(environment), str(uuid.uuid4())
    run = 'echo "start $(cat /proc/sys/kernel/random/uuid)"; echo tick; sleep 1; echo done; exit 1'
    await driver.api.request("POST", DEPLOYMENTS.path(namespace), body=deployment(service_id, kube_busybox, run))
    lines: list[tuple[int, str]] = []

    async def follow() -> None:
        async for line in driver.follow_logs(environment, service_id, since_ms=0):
            lines.append((line.timestamp_ms, line.message))
            if sum(m.startswith("start ") for _, m in lines) >= 3:
                return

    await asyncio.wait_for(follow(), 180)  # three runs: the container restarted twice while followed
    starts = [m for _, m in lines if m.startswith("start ")]
    assert len(set(starts)) == len(starts) == 3, lines
    assert len(set(lines)) == len(lines), lines  # nothing repeated after a stream resumed
    assert [m for _, m in lines].count("done") >= 2, lines


async def test_an_rbac_refusal_names_the_verb_and_the_resource(
    driver: KubernetesDriver, environment: str, kubernetes: KubeCluster
) -> None:
    """A kubeconfig whose service account may do nothing: the error says what was refused and what to grant."""
    namespace = kubernetes_namespace(environment)
    secrets = kind_of("v1", "Secret")

    async def token() -> str | None:
        found = (await driver.api.list(secrets, namespace))["items"]
        for secret in found:
            if secret.get("type") == "kubernetes.io/service-account-token":
                return base64.b64decode(secret["data"]["token"]).decode()
        return None

    bearer = await until(token, 60, "the default service account's token")
    document = json.loads(kubernetes.kubeconfig.read_text())
    document["users"][0]["user"] = {"token": bearer}
    limited = KubeApi(json.dumps(document))
    obj = deployment(str(uuid.uuid4()), "busybox", "true")
    obj["metadata"]["namespace"] = namespace
    try:
        with pytest.raises(Forbidden) as refused:
            await limited.apply(obj)
    finally:
        await limited.close()
    message = str(refused.value)
    assert "PATCH" in message and "deployments" in message and "grant" in message, message


async def test_two_slipway_clusters_on_one_kubernetes_each_correct_only_their_own(
    kubernetes: KubeCluster, driver: KubernetesDriver, environment: str
) -> None:
    """Two organizations may register the same kubeconfig: each cluster's drift correction puts back only what
    its own deploys applied (a deploy in one holds a lock the other cannot see)."""
    state, service, namespace = one_service(environment)
    secrets = kind_of("v1", "Secret")
    mine = owned_secret(namespace, "owned", {"K": "slipway"})
    ours = KubernetesDriver(kubernetes.kubeconfig.read_text(), None, cluster_id="cluster-a")
    theirs = KubernetesDriver(kubernetes.kubeconfig.read_text(), None, cluster_id="cluster-b")
    try:
        await ours.sync(mine)
        await ours._remember(state, service, [mine])
        await driver.api.patch(secrets, namespace, "owned", {"stringData": {"K": "edited"}})
        assert not [c for c in await theirs.reconcile() if namespace in c]  # not its record: left alone
        found = await driver.api.get(secrets, namespace, "owned")
        assert found is not None and base64.b64decode(found["data"]["K"]) == b"edited"
        corrected = [c for c in await ours.reconcile() if namespace in c]
        assert corrected == [f"Secret/{namespace}/owned (data.K)"], corrected
        found = await driver.api.get(secrets, namespace, "owned")
        assert found is not None and base64.b64decode(found["data"]["K"]) == b"slipway"
    finally:
        await ours.close()
        await theirs.close()


async def test_a_pod_started_while_a_variable_was_edited_is_replaced_when_the_variable_is_put_back(
    kubernetes: KubeCluster, environment: str, kube_busybox: str
) -> None:
    """Pods read their variables when they start: one started while the Secret held an edit keeps the edit after
    the Secret is put back, unless the drift correction rolls the workload (it does)."""
    state, service, namespace = one_service(environment)
    secrets = kind_of("v1", "Secret")
    variables = owned_secret(namespace, "web-env", {"GREETING": "hello"})
    workload = deployment(service.id, kube_busybox, 'echo "greeting=$GREETING"; exec sleep 3600')
    workload["metadata"]["namespace"] = namespace
    workload["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "web-env"}}]
    ours = KubernetesDriver(kubernetes.kubeconfig.read_text(), None, cluster_id=f"drift-{uuid.uuid4()}")

    async def greetings() -> dict[str, str]:
        """What each live pod of the workload read at its start (pod name → greeting)."""
        pods = await ours.api.list(PODS, namespace, f"{M.L_SERVICE}={service.id}")
        found = {}
        for pod in pods["items"]:
            if pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase") != "Running":
                continue
            name = pod["metadata"]["name"]
            logs = await asyncio.to_thread(kubernetes.kubectl, "-n", namespace, "logs", name, check=False)
            if "greeting=" in logs.stdout:
                found[name] = logs.stdout.split("greeting=", 1)[1].strip()
        return found

    try:
        await ours.sync(variables)
        await ours.sync(workload)
        await ours._remember(state, service, [variables, workload])
        first = await until(greetings, 120, "the first pod to start")
        assert list(first.values()) == ["hello"], first

        await ours.api.patch(secrets, namespace, "web-env", {"stringData": {"GREETING": "tampered"}})
        await ours.api.delete(PODS, namespace, next(iter(first)))  # its replacement starts with the edit

        async def tampered() -> dict[str, str]:
            now = await greetings()
            return now if list(now.values()) == ["tampered"] else {}

        await until(tampered, 120, "the replacement pod to start with the edited variable")

        corrected = await ours.reconcile()
        assert f"Secret/{namespace}/web-env (data.GREETING)" in corrected, corrected
        assert any(c.startswith(f"Deployment/{namespace}/") and "restarted" in c for c in corrected), corrected

        async def put_back() -> dict[str, str]:
            now = await greetings()
            return now if list(now.values()) == ["hello"] else {}

        await until(put_back, 120, "the pods to run with the variable put back")
        assert [c for c in await ours.reconcile() if namespace in c] == []  # the restart itself is not drift
    finally:
        await ours.close()
