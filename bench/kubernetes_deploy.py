"""Rollout time of a prebuilt image on Kubernetes, through Slipway's public API vs `kubectl apply --server-side` +
`kubectl rollout status` on the same cluster in the same run, and the Kubernetes API requests of each deploy.

Run: `.venv/bin/python bench/kubernetes_deploy.py` (BENCH_RUNS=N, default 3). It starts its own stack (random ports,
temporary state) with SLIPWAY_KUBERNETES: embedded, or the cluster another stack runs here (one per machine, as the
`stack` fixture does). Each side deploys once into a new namespace, BENCH_RUNS times with a changed variable (the
pods roll), then once unchanged; the same pod (CPU/memory requests = limits, HTTP readiness probe every PROBE_PERIOD
s, envFrom a Secret, maxUnavailable 0, maxSurge 1) and ClusterIP Service, kubectl's pods rolling on a checksum of
the Secret as Slipway's do. An untimed kubectl deploy first pulls the image onto the node and fills kubectl's private
discovery cache. Slipway: from the deploy POST until the service is DEPLOYED for that execution (edge route
included), counts from the deployer's deployment-log line; kubectl: the requests `-v=6` logs (a watch counts once).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from slipway_stack.kube.build import KubeBinaries  # type: ignore[import-untyped]
from slipway_stack.kube.testing import lock_registries, running_cluster  # type: ignore[import-untyped]

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PERIOD = int(os.environ.get("PROBE_PERIOD", "1"))
CPU_MILLI, MEMORY_MIB = 100, 64  # the service's resources, applied on both sides
IMAGE, TAG, NAME = "slipway-bench-kube", "1", "bench-web"
TIMEOUT = 300.0  # one deploy, either side
DOCKERFILE = (
    "FROM localhost/slipway-busybox:latest\n"
    "RUN mkdir -p /www && echo ok > /www/index.html\n"
    'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
)
COUNT_LINE = re.compile(rf"^{NAME}: (\d+) Kubernetes API requests, (\d+) writes$")
KUBECTL_REQUEST = re.compile(r"\] (GET|POST|PUT|PATCH|DELETE) https?://")


class Failed(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def need(condition: object, message: str) -> None:
    if not condition:
        raise Failed(message)


def stack(state: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}  # its own, like `make up`
    return subprocess.run(
        [sys.executable, "-m", "slipway_stack", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=900,
    )


def push_image(state: Path, ref: str, workdir: Path) -> None:
    """Build the image with the stack's Podman setup, push it to the registry the node pulls from (plain HTTP)."""
    (workdir / "Dockerfile").write_text(DOCKERFILE)
    env = {**os.environ, "CONTAINERS_CONF": str(state / "engine" / "containers.conf")}
    for argv in (["build", "-t", ref, str(workdir)], ["push", "--tls-verify=false", ref], ["rmi", ref]):
        done = subprocess.run(["podman", *argv], capture_output=True, text=True, env=env, timeout=300)
        need(done.returncode == 0, f"podman {argv[0]} {ref}: {done.stderr[-500:]}")


def errors(stderr: str) -> str:
    """kubectl's error lines: at -v=6 a failure also dumps every goroutine's stack after them."""
    found = [line for line in stderr.splitlines() if line.lower().startswith(("error", "f1", "e1"))]
    return "\n".join(found[-10:]) or stderr[-1500:]


class Kubectl:
    """The baseline: `kubectl apply --server-side` of equivalent manifests, then `kubectl rollout status`."""

    def __init__(self, kubeconfig: Path, image: str, cache: Path) -> None:
        self.argv = [KubeBinaries().path("kubectl"), f"--kubeconfig={kubeconfig}", f"--cache-dir={cache}"]
        self.image = image
        self.manifest = cache.parent / "bench-kubectl.json"

    def run(self, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=timeout)

    def manifests(self, namespace: str, value: str) -> list[dict[str, Any]]:
        """Namespace, Secret, Deployment and Service as Slipway's driver writes them (minus its labels)."""
        labels = {"app": NAME}
        data = {"BENCH_RUN": base64.b64encode(value.encode()).decode()}
        checksum = hashlib.sha256(json.dumps(sorted(data.items())).encode()).hexdigest()[:32]
        probe: dict[str, Any] = {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 0}
        probe |= {"periodSeconds": PERIOD, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 30}
        amounts = {"cpu": f"{CPU_MILLI}m", "memory": f"{MEMORY_MIB}Mi"}
        container: dict[str, Any] = {
            "name": "app",
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "envFrom": [{"secretRef": {"name": f"{NAME}-env"}}],
            "resources": {"requests": amounts, "limits": amounts},
            "ports": [{"name": "p8080", "containerPort": 8080, "protocol": "TCP"}],
            "readinessProbe": probe,
        }
        pod: dict[str, Any] = {
            "containers": [container],
            "terminationGracePeriodSeconds": 10,  # the deployer's stop timeout
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
        }
        deployment = {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 121,  # Slipway's: the readiness budget + 90 s
            "template": {
                "metadata": {"labels": labels, "annotations": {"bench/config-checksum": checksum}},
                "spec": pod,
            },
        }
        ports = [{"name": "p8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
        service = {"type": "ClusterIP", "selector": labels, "ports": ports}
        meta = {"name": NAME, "namespace": namespace, "labels": labels}
        return [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {**meta, "name": f"{NAME}-env"}, "data": data},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": deployment},
            {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": service},
        ]

    def deploy(self, namespace: str, value: str) -> tuple[float, int, int]:
        """(seconds, requests, writes) of apply + rollout status."""
        # one JSON List: kubectl reads a file that starts with `{` as a JSON stream, where `---` is not allowed
        self.manifest.write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": self.manifests(namespace, value)})
        )
        started = time.perf_counter()
        apply = self.run("-v=6", "apply", "--server-side", "--field-manager=bench", "-f", str(self.manifest))
        need(apply.returncode == 0, f"kubectl apply: {apply.stdout}{errors(apply.stderr)}")
        rollout = self.run(
            "-v=6", "-n", namespace, "rollout", "status", f"deployment/{NAME}", f"--timeout={TIMEOUT:.0f}s"
        )
        elapsed = time.perf_counter() - started
        need(rollout.returncode == 0, f"kubectl rollout status: {rollout.stdout}{errors(rollout.stderr)}")
        sent = [m.group(1) for m in KUBECTL_REQUEST.finditer(apply.stderr + rollout.stderr)]
        return elapsed, len(sent), sum(method != "GET" for method in sent)


class Slipway:
    """A container service on the `local-kubernetes` cluster, through the public API."""

    def __init__(self, api: httpx.Client, pull_registry: str) -> None:
        self.api = api
        for org in self.ok(api.get("/organization"))["results"]:
            clusters = self.ok(api.get(f"/organization/{org['id']}/cluster"))["results"]
            found = [c for c in clusters if c["name"] == "local-kubernetes"]
            if found:
                self.org, cluster_id = org["id"], found[0]["id"]
                break
        else:
            raise Failed("no organization has the cluster local-kubernetes: did SLIPWAY_KUBERNETES reach the stack?")
        registries = self.ok(api.get(f"/organization/{self.org}/containerRegistry"))["results"]
        mine = [r for r in registries if r["url"].split("://", 1)[-1].rstrip("/") == pull_registry]
        if mine:
            registry_id = mine[0]["id"]
        else:  # another stack's cluster pulls only from that stack's registry: register it here
            body = {"name": "bench-kube", "kind": "GENERIC_CR", "url": f"http://{pull_registry}", "config": {}}
            registry_id = self.ok(api.post(f"/organization/{self.org}/containerRegistry", json=body), 201)["id"]
        project = self.ok(api.post(f"/organization/{self.org}/project", json={"name": f"bench-{uuid.uuid4().hex[:6]}"}))
        self.env = self.ok(
            api.post(f"/project/{project['id']}/environment", json={"name": "bench", "cluster": cluster_id}), 201
        )
        need(self.env["cluster_id"] == cluster_id, f"the environment is on {self.env['cluster_id']}, not {cluster_id}")
        probe = {"type": {"http": {"path": "/", "port": 8080}}, "initial_delay_seconds": 0, "period_seconds": PERIOD}
        service = {
            "name": NAME,
            "registry_id": registry_id,
            "image_name": IMAGE,
            "tag": TAG,
            "cpu": CPU_MILLI,
            "memory": MEMORY_MIB,
            "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
            "healthchecks": {"readiness_probe": {**probe, "timeout_seconds": 1, "failure_threshold": 30}},
        }
        self.sid = self.ok(api.post(f"/environment/{self.env['id']}/container", json=service), 201)["id"]
        variable = {"key": "BENCH_RUN", "value": "0", "is_secret": False, "variable_scope": "CONTAINER"}
        self.variable = self.ok(api.post("/variable", json={**variable, "variable_parent_id": self.sid}), 201)["id"]

    @staticmethod
    def ok(response: httpx.Response, status: int = 200) -> Any:
        need(response.status_code == status, f"{response.request.method} {response.request.url.path}: "
             f"{response.status_code} {response.text[:500]}")  # fmt: skip
        return response.json() if response.content else {}

    def set_variable(self, value: str) -> None:
        self.ok(self.api.put(f"/variable/{self.variable}", json={"key": "BENCH_RUN", "value": value}))

    def deploy(self, redeploy: bool = False) -> tuple[float, int, int]:
        """(seconds from the POST until DEPLOYED, requests, writes from the deployment log)."""
        started = time.perf_counter()
        if redeploy:
            queued = self.ok(self.api.post(f"/container/{self.sid}/redeploy"), 202)
        else:
            queued = self.ok(self.api.post(f"/container/{self.sid}/deploy", json={"image_tag": TAG}), 202)
        execution = queued["execution_id"]
        while True:  # the status is the previous deploy's until the runner takes this one: match the execution
            status = self.ok(self.api.get(f"/container/{self.sid}/status"))
            mine = status.get("execution_id") == execution
            if mine and status["state"] == "DEPLOYED":
                break
            if (mine and status["state"].endswith("ERROR")) or time.perf_counter() - started > TIMEOUT:
                waited = time.perf_counter() - started
                raise Failed(
                    f"deploy {execution}: {status['state']} after {waited:.0f}s:\n{self.log(execution)[-3000:]}"
                )
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 30  # lines reach the log store through NATS, a moment after the state
        while time.monotonic() < deadline:
            counts = [m for line in self.log(execution).splitlines() if (m := COUNT_LINE.match(line))]
            if counts:
                return elapsed, int(counts[-1].group(1)), int(counts[-1].group(2))
            time.sleep(0.2)
        raise Failed(f"deploy {execution}: no '{NAME}: N Kubernetes API requests, M writes' line in its log:\n"
                     f"{self.log(execution)[-2000:]}")  # fmt: skip

    def log(self, execution: str) -> str:
        r = self.api.get(f"/environment/{self.env['id']}/logs", params={"version": execution})
        return "\n".join(x["message"]["safe_message"] for x in (r.json() if r.status_code == 200 else []))


Row = tuple[str, tuple[float, int, int], tuple[float, int, int]]  # label, kubectl and Slipway (s, requests, writes)


def measure(state: Path, other: Path | None, tmp: Path, cleanup: list[str]) -> list[Row]:
    env = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines() if "=" in line)
    own_registry = f"127.0.0.1:{json.loads((state / 'stack.json').read_text())['ports']['registry']}"
    pull_registry = (lock_registries() or [own_registry])[0] if other else own_registry
    image = f"{pull_registry}/{IMAGE}:{TAG}"
    push_image(state, image, tmp)
    (tmp / "kubectl-cache").mkdir()
    kubectl = Kubectl(kubeconfig_of(state, other), image, tmp / "kubectl-cache")
    base = f"bench-kubectl-{uuid.uuid4().hex[:6]}"
    cleanup += [f"{base}-warm", base]
    kubectl.deploy(f"{base}-warm", "warm")  # untimed: pulls the image onto the node, fills the discovery cache
    headers = {"Authorization": f"Token {env['SLIPWAY_API_TOKEN']}"}
    with httpx.Client(base_url=env["SLIPWAY_API_URL"], headers=headers, timeout=60) as api:
        slipway = Slipway(api, pull_registry)
        cleanup.append(f"slipway-{slipway.env['id']}")
        try:
            rows: list[Row] = [("first deploy", kubectl.deploy(base, "0"), slipway.deploy())]
            for i in range(1, RUNS + 1):  # interleaved so drift on a shared machine hits both sides alike
                slipway.set_variable(str(i))
                rows.append((f"changed {i}", kubectl.deploy(base, str(i)), slipway.deploy()))
                print(f"  changed {i}/{RUNS}: kubectl {rows[-1][1][0]:.2f}s  slipway {rows[-1][2][0]:.2f}s", flush=True)
            rows.append(("unchanged redeploy", kubectl.deploy(base, str(RUNS)), slipway.deploy(redeploy=True)))
        finally:
            api.post(f"/environment/{slipway.env['id']}/uninstall", json={})
    return rows


def report(rows: list[Row]) -> None:
    def line(label: str, slipway: float, kubectl: float, counts: str = "") -> None:
        print(
            f"{label:<24}{slipway:>8.2f}s{kubectl:>8.2f}s{slipway / kubectl:>7.2f}×{slipway - kubectl:>+8.2f}s{counts}"
        )

    print(f"\nOne container service on Kubernetes (probe period {PERIOD}s); req/wr: Kubernetes API requests/writes")
    print(f"{'':<24}{'slipway':>9}{'kubectl':>9}{'ratio':>8}{'added':>9}{'slipway req/wr':>16}{'kubectl req/wr':>16}")
    for label, (kt, kr, kw), (st, sr, sw) in rows:
        line(label, st, kt, f"{f'{sr}/{sw}':>16}{f'{kr}/{kw}':>16}")
    changed = [r for r in rows if r[0].startswith("changed")]
    slipway, kubectl = (statistics.median(r[2][0] for r in changed), statistics.median(r[1][0] for r in changed))
    line(f"median of {len(changed)} changed", slipway, kubectl)
    writes = rows[-1][2][2]
    print(f"unchanged redeploy: Slipway sent {writes} Kubernetes writes (target 0){'' if writes == 0 else ': MISSED'}")


def kubeconfig_of(state: Path, other: Path | None) -> Path:
    return other / "kubeconfig" if other else state / "kubernetes" / "kubeconfig"


def remove_namespaces(kubeconfig: Path, namespaces: list[str]) -> None:
    """Delete the baseline's namespaces and wait for Slipway's to go (the environment was uninstalled)."""
    argv = [KubeBinaries().path("kubectl"), f"--kubeconfig={kubeconfig}"]
    ours = [n for n in namespaces if n.startswith("bench-kubectl-")]
    commands = [["delete", "namespace", *ours, "--ignore-not-found"]] if ours else []
    commands += [["wait", "--for=delete", f"namespace/{n}"] for n in namespaces if n.startswith("slipway-")]
    for args in commands:
        done = subprocess.run([*argv, *args, "--timeout=120s"], capture_output=True, text=True, timeout=180)
        if done.returncode != 0 and "NotFound" not in done.stderr and "no matching resources" not in done.stderr:
            print(f"  kubectl {' '.join(args)}: {done.stderr.strip()[-500:]}")


def main() -> int:
    if not KubeBinaries().ready():
        print(f"kubernetes_deploy: FAILED: no Kubernetes binaries in {KubeBinaries().bin} (run `make kubernetes`)")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    state = tmp / ".slipway"
    other = running_cluster()  # one embedded cluster per machine: reuse the running one
    print(f"starting a stack in {state} ({f'with the cluster of {other}' if other else 'embedded Kubernetes'}) …")
    namespaces: list[str] = []
    try:
        choice = str(other / "kubeconfig") if other else "embedded"
        up = stack(state, "up", "--random-ports", env={"SLIPWAY_KUBERNETES": choice})
        if up.returncode != 0:
            raise Failed(f"the stack did not start:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
        report(measure(state, other, tmp, namespaces))
        return 0
    except (Failed, httpx.HTTPError, subprocess.SubprocessError, OSError, KeyError, ValueError) as exc:
        print(f"kubernetes_deploy: FAILED: {exc if isinstance(exc, Failed) else repr(exc)}")
        return 1
    finally:
        if namespaces and (other is None or running_cluster() == other):
            remove_namespaces(kubeconfig_of(state, other), namespaces)
        if state.exists():
            down = stack(state, "down")
            print((down.stdout.strip().splitlines() or [""])[-1], flush=True)
        shutil.rmtree(tmp, ignore_errors=True)  # the temporary stack's data: nobody needs it after


if __name__ == "__main__":
    sys.exit(main())
