"""Git → build → push → deploy on the embedded Kubernetes cluster, through the public API: the public URL answers,
an unchanged redeploy writes nothing, a variable change rolls with no failed request, drift is put back, a
cancelled rollout and a broken version roll back with the old pods serving, stop and uninstall leave nothing
behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import pytest

from slipway_stack.kube.testing import KubeCluster
from slipway_stack.testing import RunningStack
from tests.e2e_world import BROKEN, DOCKERFILE, TERMINAL, Prober, Repo, World, build_image, until

pytestmark = pytest.mark.stack


class KubeWorld(World):
    """An application on the `local-kubernetes` cluster, in the organization it is registered in."""

    def __init__(self, stack: RunningStack, repo: Repo, cluster: KubeCluster) -> None:
        super().__init__(stack, repo)
        self.cluster = cluster

    def on_kubernetes(self, name: str) -> None:
        """A new project and environment `name` on `local-kubernetes`, in the organization it is registered in."""
        orgs = self.ok(self.api.get("/organization"))["results"]
        for org in orgs:
            clusters = self.ok(self.api.get(f"/organization/{org['id']}/cluster"))["results"]
            found = [c for c in clusters if c["name"] == "local-kubernetes"]
            if found:
                self.org, self.cluster_id = org["id"], found[0]["id"]
                break
        else:
            raise AssertionError("local-kubernetes is not registered")
        project = self.ok(self.api.post(f"/organization/{self.org}/project", json={"name": f"{name}-{time.time_ns()}"}))
        body = {"name": name, "cluster": self.cluster_id}
        self.env = self.ok(self.api.post(f"/project/{project['id']}/environment", json=body), 201)
        assert self.env["cluster_id"] == self.cluster_id

    def registry_image(self, name: str, cmd: str) -> dict[str, Any]:
        """`cmd`'s image built locally and pushed to the organization's registry: its registry entry."""
        registry = self.ok(self.api.get(f"/organization/{self.org}/containerRegistry"))["results"][0]
        host = registry["url"].removeprefix("https://").removeprefix("http://").rstrip("/")
        build_image(self.engine, f"{host}/{name}", cmd)
        pushed = subprocess.run(["podman", "push", "--tls-verify=false", f"{host}/{name}"], capture_output=True)
        assert pushed.returncode == 0, pushed.stderr
        return registry  # type: ignore[no-any-return]

    def setup(self) -> None:
        self.on_kubernetes("dev")
        self.first = self.repo.commit(DOCKERFILE, "v1")
        app = {
            "name": "web",
            "git_repository": {"url": self.repo.url, "branch": "main", "root_path": "/", "provider": "GITLAB"},
            "build_mode": "DOCKER",
            "dockerfile_path": "Dockerfile",
            "cpu": 250,
            "memory": 128,
            "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
            "healthchecks": {
                "readiness_probe": {
                    "type": {"http": {"path": "/", "port": 8080}},
                    "initial_delay_seconds": 0,
                    "period_seconds": 1,
                    "timeout_seconds": 1,
                    "failure_threshold": 5,
                },
            },
        }
        self.app = self.ok(self.api.post(f"/environment/{self.env['id']}/application", json=app), 201)
        variable = {
            "key": "GREETING",
            "value": "hello",
            "is_secret": False,
            "variable_scope": "APPLICATION",
            "variable_parent_id": self.app["id"],
        }
        self.ok(self.api.post("/variable", json=variable), 201)

    @property
    def namespace(self) -> str:
        return f"slipway-{self.env['id']}"

    def kube(self, path: str) -> dict[str, Any] | None:
        with self.cluster.client() as api:
            r = api.get(path)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def objects(self) -> dict[str, str]:
        """name → resourceVersion of the application's objects (Deployment, Service, Secret)."""
        selector = f"slipway.dev/service-id={self.app['id']}"
        out = {}
        for kind, path in (("deployment", "/apis/apps/v1"), ("service", "/api/v1"), ("secret", "/api/v1")):
            found = self.kube(f"{path}/namespaces/{self.namespace}/{kind}s?labelSelector={selector}") or {"items": []}
            for item in found["items"]:
                out[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return out

    def pods(self, live: bool = True) -> list[dict[str, Any]]:
        """The application's pods; `live`: not those on their way out (deleted, which the embedded kubelet may
        take a minute to finish while it tears another namespace down)."""
        found = self.kube(
            f"/api/v1/namespaces/{self.namespace}/pods?labelSelector=slipway.dev/service-id={self.app['id']}"
        )
        items = list((found or {"items": []})["items"])
        return [p for p in items if not (live and p["metadata"].get("deletionTimestamp"))]

    def deployment_log(self, execution_id: str) -> str:
        lines = self.api.get(f"/environment/{self.env['id']}/logs", params={"version": execution_id})
        return "\n".join(x["message"]["safe_message"] for x in (lines.json() if lines.status_code == 200 else []))


W = TypeVar("W", bound=KubeWorld)


def started(kind: type[W], stack: RunningStack, kubernetes: KubeCluster, tmp: pytest.TempPathFactory) -> Iterator[W]:
    """A module's world, set up; its environment uninstalled after the module's tests."""
    w = kind(stack, Repo(tmp.mktemp("repo")), kubernetes)
    w.setup()
    yield w
    w.api.post(f"/environment/{w.env['id']}/uninstall", json={})


@pytest.fixture(scope="module")
def world(
    stack: RunningStack, kubernetes: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeWorld]:
    yield from started(KubeWorld, stack, kubernetes, tmp_path_factory)


def test_git_to_url_on_kubernetes(world: KubeWorld, kubernetes: KubeCluster) -> None:
    queued = world.deploy(world.first)
    status = world.wait_terminal(queued["execution_id"], timeout=300)
    assert status == "DEPLOYED", world.deployment_log(queued["execution_id"])[-3000:]
    page = world.get()
    assert page.status_code == 200 and page.text.strip() == "v1"
    assert world.get("/greeting.txt").text.strip() == "hello"
    namespace = world.kube(f"/api/v1/namespaces/{world.namespace}")
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert (
        labels["slipway.dev/organization-id"] == world.org and labels["slipway.dev/environment-id"] == world.env["id"]
    )
    pods = world.pods()
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
    image = pods[0]["spec"]["containers"][0]["image"]
    registry = f"127.0.0.1:{world.stack.ports['registry']}"  # the organization's default registry
    assert image.startswith(f"{registry}/slipway/{world.app['id']}:"), image  # pushed there, pulled by the node
    probe = pods[0]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["port"] == 8080 and probe["periodSeconds"] == 1
    status_body = world.status()
    assert status_body["state"] == "DEPLOYED"
    # the built-in internal host names the Service's cluster DNS name
    variables = world.ok(world.api.get("/variable", params={"parent_id": world.app["id"], "scope": "APPLICATION"}))
    internal = [v["value"] for v in variables["results"] if v["key"].endswith("_HOST_INTERNAL")]
    assert internal and internal[0].endswith(f".{world.namespace}.svc.cluster.local"), internal
    service = world.kube(f"/api/v1/namespaces/{world.namespace}/services/{internal[0].split('.')[0]}")
    assert service is not None and service["spec"]["ports"][0]["port"] == 8080


def test_unchanged_redeploy_writes_nothing_on_kubernetes(world: KubeWorld) -> None:
    before, pods = world.objects(), sorted(p["metadata"]["name"] for p in world.pods())
    assert len(before) >= 3, before
    queued = world.ok(world.api.post(f"/application/{world.app['id']}/redeploy"), 202)
    assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED"
    assert world.objects() == before
    assert sorted(p["metadata"]["name"] for p in world.pods()) == pods
    text = world.deployment_log(queued["execution_id"])
    assert "already runs this version" in text and "Kubernetes API requests, 0 writes" in text, text[-1500:]


def test_variable_change_rolls_out_on_kubernetes_without_a_failed_request(world: KubeWorld) -> None:
    variables = world.ok(world.api.get("/variable", params={"parent_id": world.app["id"], "scope": "APPLICATION"}))
    greeting = next(v for v in variables["results"] if v["key"] == "GREETING")
    world.ok(world.api.put(f"/variable/{greeting['id']}", json={"key": "GREETING", "value": "bonjour"}))
    old_pods = {p["metadata"]["name"] for p in world.pods()}
    with Prober(world.edge, world.host(), "/greeting.txt") as prober:
        queued = world.ok(world.api.post(f"/application/{world.app['id']}/redeploy"), 202)
        assert world.wait_terminal(queued["execution_id"]) == "DEPLOYED", world.deployment_log(queued["execution_id"])
        until(lambda: prober.served and prober.served[-1] == "bonjour", 30, "the new version to serve")
    failures, served = prober.failures, prober.served
    assert not failures, failures[:5]
    assert "hello" in served and served[-1] == "bonjour" and len(served) > 20
    until(lambda: not old_pods & {p["metadata"]["name"] for p in world.pods()}, 60, "the old pod to go")


def test_drift_is_corrected_on_kubernetes(world: KubeWorld) -> None:
    """A `kubectl scale` and an edited variable are put back by the periodic drift correction, and the pods are
    restarted: one started while the variable was edited (the scale's) would keep serving the edit."""
    import base64

    name = next(k.split("/", 1)[1] for k in world.objects() if k.startswith("deployment/"))
    before = {p["metadata"]["name"] for p in world.pods()}
    world.cluster.kubectl("-n", world.namespace, "scale", f"deployment/{name}", "--replicas=3")
    patch = '{"stringData": {"GREETING": "tampered"}}'
    world.cluster.kubectl("-n", world.namespace, "patch", "secret", f"{name}-env", "--type=merge", "-p", patch)

    def corrected() -> bool:
        deployment = world.kube(f"/apis/apps/v1/namespaces/{world.namespace}/deployments/{name}") or {}
        secret = world.kube(f"/api/v1/namespaces/{world.namespace}/secrets/{name}-env") or {}
        greeting = base64.b64decode(secret.get("data", {}).get("GREETING", "")).decode()
        return deployment.get("spec", {}).get("replicas") == 1 and greeting == "bonjour"

    until(corrected, 60, "the drift correction to put the replicas and the variable back")
    until(lambda: len(pods := world.pods()) == 1 and pods[0]["metadata"]["name"] not in before, 120, "one new pod")
    # the edge may still reach a pod on its way out for a moment; then only the put-back value is served
    until(lambda: world.get("/greeting.txt").text.strip() == "bonjour", 30, "the put-back variable to be served")
    served = {world.get("/greeting.txt").text.strip() for _ in range(20)}
    assert served == {"bonjour"}, served


def test_cancel_mid_rollout_rolls_back_on_kubernetes(world: KubeWorld) -> None:
    image = world.pods()[0]["spec"]["containers"][0]["image"]
    never_ready = world.repo.commit(BROKEN, "never ready")
    queued = world.deploy(never_ready)
    until(lambda: "rolling out" in world.deployment_log(queued["execution_id"]), 240, "the rollout to start")
    world.ok(world.api.post(f"/environment/{world.env['id']}/cancelDeployment", json={}), 202)
    assert world.wait_terminal(queued["execution_id"], 120) == "CANCELED"
    assert world.get("/greeting.txt").text.strip() == "bonjour"
    deployment = world.kube(f"/apis/apps/v1/namespaces/{world.namespace}/deployments")
    assert deployment is not None
    assert deployment["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"] == image
    until(lambda: all(p["spec"]["containers"][0]["image"] == image for p in world.pods()), 60, "the new pod to go")


def test_broken_version_rolls_back_on_kubernetes_and_the_old_pods_keep_serving(world: KubeWorld) -> None:
    serving = {p["metadata"]["name"] for p in world.pods()}
    image = world.pods()[0]["spec"]["containers"][0]["image"]
    broken = world.repo.commit(BROKEN, "broken")
    queued = world.deploy(broken)
    assert world.wait_terminal(queued["execution_id"], timeout=300) == "DEPLOYMENT_ERROR"
    text = world.deployment_log(queued["execution_id"])
    assert "readiness probe never succeeded" in text and "rolling back" in text, text[-2000:]
    assert world.get("/greeting.txt").text.strip() == "bonjour"
    until(lambda: {p["metadata"]["name"] for p in world.pods()} == serving, 60, "only the old pod to remain")
    deployments = world.kube(f"/apis/apps/v1/namespaces/{world.namespace}/deployments")
    assert deployments is not None and len(deployments["items"]) == 1
    assert deployments["items"][0]["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_killing_the_deployer_mid_rollout_ends_in_a_terminal_state_on_kubernetes(world: KubeWorld) -> None:
    second = world.repo.commit(DOCKERFILE, "v2")
    queued = world.deploy(second)
    until(lambda: "rolling out" in world.deployment_log(queued["execution_id"]), 240, "the rollout to start")
    pid = int((world.stack.state_dir / "run" / "deployer.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    world.stack.cli("up")  # restarts what is missing; the new deployer takes the lease over
    assert world.wait_terminal(queued["execution_id"], 300) == "DEPLOYED", world.deployment_log(queued["execution_id"])
    until(lambda: world.get().text.strip() == "v2", 60, "v2 to serve")
    until(lambda: len(world.pods()) == 1, 90, "one pod to remain")


def test_deploying_an_older_commit_rolls_back_on_kubernetes(world: KubeWorld) -> None:
    """Deploying another version (Qovery's rollback) from v2 back to v1, with no failed request meanwhile."""
    assert world.get().text.strip() == "v2"
    with Prober(world.edge, world.host()) as prober:
        queued = world.deploy(world.first)
        assert world.wait_terminal(queued["execution_id"], 300) == "DEPLOYED", world.deployment_log(
            queued["execution_id"]
        )
        until(lambda: prober.served and prober.served[-1] == "v1", 60, "v1 to serve again")
    assert not prober.failures, prober.failures[:5]
    assert "v2" in prober.served and len(prober.served) > 20


def test_restart_rolls_the_pods_on_kubernetes(world: KubeWorld) -> None:
    before = {p["metadata"]["name"] for p in world.pods()}
    queued = world.ok(world.api.post(f"/application/{world.app['id']}/restart-service"), 202)
    assert world.wait_terminal(queued["execution_id"]) == "RESTARTED", world.deployment_log(queued["execution_id"])
    # every pod that is not on its way out is new
    until(lambda: {p["metadata"]["name"] for p in world.pods()}.isdisjoint(before), 90, "new pods only")
    assert world.get().text.strip() == "v1"


def test_a_signed_push_deploys_on_kubernetes(world: KubeWorld) -> None:
    from tests.test_git_webhooks_e2e import github_push

    edit = {"auto_deploy": True, "healthchecks": world.app["healthchecks"]}
    world.ok(world.api.put(f"/application/{world.app['id']}", json=edit))
    hooks = world.ok(world.api.get(f"/slipway/organization/{world.org}/gitWebhook"))["results"]
    hook = next(h for h in hooks if h["provider"] == "GITHUB")
    before = {h["identifier"]["execution_id"] for h in world.history()}
    third = world.repo.commit(DOCKERFILE, "v3")
    accepted = github_push(hook["url"], hook["secret"], world.repo.url, third, f"k8s-{time.time_ns()}")
    assert accepted.status_code == 202 and accepted.json()["services"] == [world.app["id"]], accepted.text
    queued = until(lambda: [h for h in world.history() if h["identifier"]["execution_id"] not in before], 30)
    execution = queued[0]["identifier"]["execution_id"]
    assert world.wait_terminal(execution, 300) == "DEPLOYED", world.deployment_log(execution)
    until(lambda: world.get().text.strip() == "v3", 60, "the pushed commit to serve")


def test_a_pull_request_gets_a_preview_on_kubernetes_that_goes_when_merged(world: KubeWorld) -> None:
    from tests.test_previews_e2e import github_pull

    rule = world.ok(world.api.get(f"/environment/{world.env['id']}/deploymentRule"))
    rule_url = f"/environment/{world.env['id']}/deploymentRule/{rule['id']}"
    world.ok(world.api.put(rule_url, json={**rule, "auto_preview": True}))
    edit = {"auto_preview": True, "healthchecks": world.app["healthchecks"]}
    world.ok(world.api.put(f"/application/{world.app['id']}", json=edit))
    hooks = world.ok(world.api.get(f"/slipway/organization/{world.org}/gitWebhook"))["results"]
    hook = next(h for h in hooks if h["provider"] == "GITHUB")
    project = world.env["project"]["id"]

    def previews() -> list[dict[str, Any]]:
        found = world.ok(world.api.get(f"/project/{project}/environment"))["results"]
        return [e for e in found if e["mode"] == "PREVIEW"]

    world.repo.git("checkout", "-q", "-b", "feature")
    try:
        head = world.repo.commit(DOCKERFILE, "pr-1")
    finally:
        world.repo.git("checkout", "-q", "main")
    assert github_pull(hook, world.repo.url, "opened", head).status_code == 202
    [preview] = until(previews, 30, "the preview environment")
    assert preview["cluster_id"] == world.cluster_id and preview["name"].startswith("[PR] dev - New page")
    [app] = world.ok(world.api.get(f"/environment/{preview['id']}/application"))["results"]

    def finished() -> dict[str, Any] | None:
        found = world.ok(world.api.get(f"/environment/{preview['id']}/deploymentHistoryV2"))["results"]
        return found[0] if found and found[0]["status"] in TERMINAL else None

    done = until(finished, 300, "the preview's deployment")
    assert done["status"] == "DEPLOYED", world.deployment_log(done["identifier"]["execution_id"])[-3000:]
    namespace = f"slipway-{preview['id']}"
    [pod] = world.kube(f"/api/v1/namespaces/{namespace}/pods?labelSelector=slipway.dev/service-id={app['id']}")["items"]  # type: ignore[index]
    assert pod["metadata"]["labels"]["slipway.dev/organization-id"] == world.org
    links = world.ok(world.api.get(f"/application/{app['id']}/link"))["results"]
    host = str(links[0]["url"]).split("://", 1)[1].split(":")[0]
    assert host != world.host()
    assert httpx.get(f"{world.edge}/", headers={"Host": host}, timeout=5).text.strip() == "pr-1"

    assert github_pull(hook, world.repo.url, "closed", head, merged=True).status_code == 202
    until(lambda: world.api.get(f"/environment/{preview['id']}").status_code == 404, 30, "the preview to be deleted")
    until(lambda: world.kube(f"/api/v1/namespaces/{namespace}") is None, 180, "the preview's namespace to go")
    assert httpx.get(f"{world.edge}/", headers={"Host": host}, timeout=5).status_code == 404
    assert previews() == []


def test_stop_then_uninstall_leave_nothing_on_kubernetes(world: KubeWorld) -> None:
    queued = world.ok(world.api.post(f"/application/{world.app['id']}/stop"), 202)
    assert world.wait_terminal(queued["execution_id"]) == "STOPPED"
    assert world.pods(live=False) == []
    assert world.get().status_code in (404, 502, 503)
    queued = world.ok(world.api.post(f"/environment/{world.env['id']}/uninstall", json={}), 202)
    until(lambda: world.kube(f"/api/v1/namespaces/{world.namespace}") is None, 120, "the namespace to go")
    assert world.get().status_code in (404, 502, 503)
    config = httpx.get(f"http://127.0.0.1:{world.stack.ports['caddy_admin']}/config/", timeout=10).text
    assert world.app["id"] not in config
