"""The embedded one-node Kubernetes: etcd, the control plane, containerd, kubelet, kube-proxy and cluster DNS.

Everything runs on loopback ports the stack picks, with its state under `<state>/kubernetes`; the node's pods
live on its own bridge. One embedded cluster runs per machine at a time (its kube-proxy owns the host's
KUBE-* iptables chains): a second start elsewhere fails and names the running one. `stop()` leaves no
process, pod, mount, bridge or iptables rule behind.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from slipway_stack.kube import netfilter
from slipway_stack.kube.build import KubeBinaries, say
from slipway_stack.kube.configs import (
    CNI_NETWORK,
    PAUSE_IMAGE,
    Network,
    cni_conflist,
    containerd_config,
    kubeconfig,
    kubelet_config,
    pause_archive,
)
from slipway_stack.kube.pki import Pki
from slipway_stack.procs import alive, free_port, read_pid, start_detached, stop_pid, tail

NODE_NAME = "slipway-node"
LOCK = Path(os.environ.get("SLIPWAY_KUBERNETES_LOCK", "/run/slipway-kubernetes.lock"))
PORTS = ("etcd", "etcd_peer", "apiserver", "kubelet", "kubelet_healthz", "proxy_healthz", "proxy_metrics")
USERS = ("admin", "kubelet", "kube-proxy", "controller-manager", "scheduler", "cluster-dns", "volumes")
# stop order: the node first (so nothing restarts pods), then the control plane
COMPONENTS = (
    "kube-proxy",
    "kubelet",
    "cluster-dns",
    "volumes",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
)

Progress = Callable[[str], None]


class KubernetesError(RuntimeError):
    """The embedded cluster could not start (the message names the component and its log)."""


class EmbeddedKubernetes:
    def __init__(
        self,
        state_dir: Path,
        logs: Path,
        run: Path,
        *,
        registries: list[str],
        ports: dict[str, int] | None = None,
        network: Network | None = None,
        binaries: KubeBinaries | None = None,
    ) -> None:
        self.root = state_dir
        self.logs = logs
        self.run = run
        self.registries = registries
        self.network = network or Network()
        self.binaries = binaries or KubeBinaries()
        self.pki = Pki(state_dir / "pki")
        self.settings_file = state_dir / "cluster.json"
        self.settings = self._settings(ports)
        self.kubeconfig_file = state_dir / "kubeconfig"
        self.containerd_socket = state_dir / "containerd" / "containerd.sock"
        self._started: dict[str, int] = {}  # component → pid, of this start

    # -- configuration ------------------------------------------------------------------------------
    def _settings(self, ports: dict[str, int] | None) -> dict:  # type: ignore[type-arg]
        settings = json.loads(self.settings_file.read_text()) if self.settings_file.exists() else {}
        changed = not settings
        settings.setdefault("tokens", {})
        for user in USERS:
            if user not in settings["tokens"]:
                settings["tokens"][user] = secrets.token_urlsafe(32)
                changed = True
        settings.setdefault("ports", {})
        for name in PORTS:
            if ports and name in ports:
                changed |= settings["ports"].get(name) != ports[name]
                settings["ports"][name] = ports[name]
            elif name not in settings["ports"]:
                settings["ports"][name] = free_port()
                changed = True
        self._settings_changed = changed
        return settings

    def _save_settings(self) -> None:
        """Written on the first start only: `status` and `down` of a stack without Kubernetes create nothing."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        if self._settings_changed or not self.settings_file.exists():
            self.settings_file.write_text(json.dumps(self.settings, indent=2))
            self.settings_file.chmod(0o600)
            self._settings_changed = False

    @property
    def ports(self) -> dict[str, int]:
        return dict(self.settings["ports"])

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def token(self, user: str = "admin") -> str:
        return str(self.settings["tokens"][user])

    def admin_kubeconfig(self) -> str:
        return kubeconfig(self.server, self.pki.ca_cert, "admin", self.token())

    def _component_kubeconfig(self, user: str) -> Path:
        path = self.root / "kubeconfigs" / f"{user}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kubeconfig(self.server, self.pki.ca_cert, user, self.token(user)))
        path.chmod(0o600)
        return path

    # -- processes ----------------------------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def _log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid(self, name: str) -> int | None:
        return read_pid(self._pid_file(name), marker=str(self.root))

    def _start(self, name: str, argv: list[str]) -> None:
        pid = self.pid(name)
        if pid is None:
            pid = start_detached(name, argv, log_file=self._log(name), pid_file=self._pid_file(name))
        self._started[name] = pid

    def _argv(self, name: str) -> list[str]:
        p, root, net, pki = self.ports, self.root, self.network, self.pki
        b = self.binaries.path
        if name == "etcd":
            client, peer = f"http://127.0.0.1:{p['etcd']}", f"http://127.0.0.1:{p['etcd_peer']}"
            return [
                "etcd",
                "--name=slipway",
                f"--data-dir={root / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=slipway={peer}",
                "--log-level=warn",
            ]
        if name == "kube-apiserver":
            return [
                b("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['apiserver']}",
                "--insecure-port=0",
                f"--advertise-address={net.node_ip}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--token-auth-file={root / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={net.service_cidr}",
                "--allow-privileged=true",
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={pki.kubelet_client_cert}",
                f"--kubelet-client-key={pki.kubelet_client_key}",
                f"--cert-dir={root / 'apiserver-certs'}",
                "--profiling=false",
            ]
        if name == "kube-controller-manager":
            return [
                b("kube-controller-manager"),
                f"--kubeconfig={self._component_kubeconfig('controller-manager')}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--port=0",
                "--secure-port=0",
                "--controllers=*,-nodeipam,-route,-cloud-node-lifecycle",
                f"--cluster-name=slipway-{root.name}",
                "--profiling=false",
            ]
        if name == "kube-scheduler":
            return [
                b("kube-scheduler"),
                f"--kubeconfig={self._component_kubeconfig('scheduler')}",
                "--leader-elect=false",
                "--port=0",
                "--secure-port=0",
                "--profiling=false",
            ]
        if name == "containerd":
            return ["containerd", f"--config={root / 'containerd' / 'config.toml'}"]
        if name == "cluster-dns":
            return [
                sys.executable,
                "-m",
                "slipway_stack.kube.dns",
                f"--listen={net.node_ip}:53",
                f"--kubeconfig={self._component_kubeconfig('cluster-dns')}",
                f"--state={root}",
            ]
        if name == "volumes":  # the `slipway-local` StorageClass's provisioner (volumes.py)
            return [
                sys.executable,
                "-m",
                "slipway_stack.kube.volumes",
                f"--kubeconfig={self._component_kubeconfig('volumes')}",
                f"--state={root}",
            ]
        if name == "kubelet":
            return [
                b("kubelet"),
                f"--config={root / 'kubelet' / 'config.json'}",
                f"--kubeconfig={self._component_kubeconfig('kubelet')}",
                "--container-runtime=remote",
                f"--container-runtime-endpoint=unix://{self.containerd_socket}",
                f"--pod-infra-container-image={PAUSE_IMAGE}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={net.node_ip}",
                f"--root-dir={root / 'kubelet' / 'root'}",
                f"--cert-dir={root / 'kubelet' / 'pki'}",
                "--v=1",
            ]
        if name == "kube-proxy":
            return [
                b("kube-proxy"),
                f"--kubeconfig={self._component_kubeconfig('kube-proxy')}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={net.pod_cidr}",
                f"--hostname-override={NODE_NAME}",
                f"--healthz-bind-address=127.0.0.1:{p['proxy_healthz']}",
                f"--metrics-bind-address=127.0.0.1:{p['proxy_metrics']}",
                "--conntrack-max-per-core=0",
                "--conntrack-min=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                "--profiling=false",
            ]
        raise KeyError(name)

    # -- start --------------------------------------------------------------------------------------
    def start(self, progress: Progress = say, timeout: float = 180.0) -> None:
        """Start (or find running) every component and wait for the node to be Ready."""
        started = time.monotonic()
        self._take_lock()
        try:
            self.binaries.ensure(progress)
            self._prepare()
            self._start("etcd", self._argv("etcd"))
            self._wait_tcp("etcd", self.ports["etcd"], timeout)
            self._start("kube-apiserver", self._argv("kube-apiserver"))
            self._wait_api(timeout)
            progress(f"  kubernetes apiserver ready on {self.server} ({time.monotonic() - started:.1f}s)")
            for name in ("kube-controller-manager", "kube-scheduler", "containerd"):
                self._start(name, self._argv(name))
            self._wait_containerd(timeout)
            self._import_pause_image()
            for name in ("cluster-dns", "volumes", "kubelet", "kube-proxy"):
                self._start(name, self._argv(name))
            self._wait_node_ready(timeout)
        except Exception:
            self.stop()
            raise
        self.kubeconfig_file.write_text(self.admin_kubeconfig())
        self.kubeconfig_file.chmod(0o600)
        progress(
            f"  kubernetes node {NODE_NAME} Ready ({time.monotonic() - started:.1f}s), "
            f"kubeconfig {self.kubeconfig_file}"
        )

    def _prepare(self) -> None:
        net = self.network
        self._save_settings()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        self.pki.ensure(["127.0.0.1", "localhost", net.node_ip, net.api_service_ip, "kubernetes.default.svc"])
        rows = [f'{self.token(u)},{u},{u},"system:masters"' for u in USERS]
        (self.root / "tokens.csv").write_text("\n".join(rows) + "\n")
        (self.root / "tokens.csv").chmod(0o600)
        containerd = self.root / "containerd"
        cni = self.root / "cni"
        for d in (containerd, cni, self.root / "kubelet" / "root", self.root / "kubelet" / "pki"):
            d.mkdir(parents=True, exist_ok=True)
        (containerd / "config.toml").write_text(
            containerd_config(containerd / "root", containerd / "state", self.containerd_socket, cni, self.registries)
        )
        (cni / "10-slipway.conflist").write_text(cni_conflist(net, self.root / "ipam"))
        (self.root / "kubelet" / "config.json").write_text(
            kubelet_config(net, self.ports["kubelet"], self.ports["kubelet_healthz"], self.pki.ca_cert)
        )
        try:
            netfilter.ensure_bridge(net.bridge, net.node_ip, net.prefix)
            netfilter.enable_forwarding()
        except RuntimeError as exc:
            raise KubernetesError(str(exc)) from exc

    def _alive_or_fail(self, name: str) -> None:
        pid = self._started.get(name)
        if pid is None or not alive(pid):
            raise KubernetesError(f"{name} exited during start-up\n  log: {self._log(name)}\n{tail(self._log(name))}")

    def _wait_tcp(self, name: str, port: int, timeout: float) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as s:
                s.settimeout(0.3)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            self._alive_or_fail(name)
            if time.monotonic() > deadline:
                raise KubernetesError(f"{name} did not open port {port}\n  log: {self._log(name)}")
            time.sleep(0.2)

    def client(self, timeout: float = 10.0) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        return httpx.Client(
            base_url=self.server,
            verify=context,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.token()}"},
        )

    def _wait_api(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.client(timeout=3) as client:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                self._alive_or_fail("kube-apiserver")
                if time.monotonic() > deadline:
                    log = self._log("kube-apiserver")
                    raise KubernetesError(f"kube-apiserver not ready\n  log: {log}\n{tail(log)}")
                time.sleep(0.3)

    def _ctr(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        argv = ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args]
        return subprocess.run(argv, input=stdin, capture_output=True)

    def _wait_containerd(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._ctr("version").returncode != 0:
            self._alive_or_fail("containerd")
            if time.monotonic() > deadline:
                raise KubernetesError(f"containerd not answering\n  log: {self._log('containerd')}")
            time.sleep(0.2)

    def _import_pause_image(self) -> None:
        listed = self._ctr("images", "ls", "-q").stdout.decode()
        if any(line.strip().endswith("slipway-pause:1") for line in listed.splitlines()):
            return
        result = self._ctr("images", "import", "-", stdin=pause_archive())
        if result.returncode != 0:
            raise KubernetesError(f"could not import the pause image: {result.stderr.decode()[-500:]}")

    def _wait_node_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.client(timeout=3) as client:
            while True:
                for name in ("containerd", "kubelet", "kube-proxy", "cluster-dns"):
                    self._alive_or_fail(name)
                if self.node_ready(client):
                    return
                if time.monotonic() > deadline:
                    log = self._log("kubelet")
                    raise KubernetesError(f"node {NODE_NAME} not Ready after {timeout:.0f}s\n  log: {log}\n{tail(log)}")
                time.sleep(0.5)

    @staticmethod
    def node_ready(client: httpx.Client) -> bool:
        try:
            r = client.get(f"/api/v1/nodes/{NODE_NAME}")
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        conditions = r.json().get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    # -- one cluster per machine --------------------------------------------------------------------
    def holder(self) -> Path | None:
        """The state directory of the embedded cluster running on this machine, if any."""
        try:
            recorded = json.loads(LOCK.read_text())
            other, run = Path(recorded["state"]), Path(recorded["run"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for name in ("kube-apiserver", "kubelet", "containerd", "etcd"):
            if read_pid(run / f"{name}.pid", marker=str(other)) is not None:
                return other
        return None

    def _take_lock(self) -> None:
        other = self.holder()
        if other is not None and other != self.root:
            raise KubernetesError(
                f"an embedded Kubernetes cluster already runs on this machine (state {other}); one per machine, "
                "as its kube-proxy owns the host's KUBE-* iptables chains: stop it first (make down there)"
            )
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        LOCK.write_text(json.dumps({"state": str(self.root), "run": str(self.run), "registries": self.registries}))

    def _release_lock(self) -> None:
        try:
            if Path(json.loads(LOCK.read_text())["state"]) == self.root:
                LOCK.unlink()
        except (OSError, ValueError, KeyError, TypeError):
            pass

    # -- stop ---------------------------------------------------------------------------------------
    def running(self) -> bool:
        return any(self.pid(n) is not None for n in (*COMPONENTS, "containerd", "etcd"))

    def stop(self) -> None:
        """Stop everything; then remove pods, mounts, the bridge and the iptables rules the node made."""
        for name in COMPONENTS[:2]:
            self._stop(name)
        self._kill_pods()
        for name in (*COMPONENTS[2:], "containerd", "etcd"):
            self._stop(name)
        self._unmount()
        self._remove_pod_logs()
        if self.holder() in (None, self.root):  # the bridge and KUBE-* chains are the running cluster's
            netfilter.remove_owned_rules(CNI_NETWORK, self.network.pod_cidr)
            netfilter.remove_bridge(self.network.bridge)
            self._release_lock()

    def _stop(self, name: str) -> None:
        pid = self.pid(name)
        if pid is not None:
            stop_pid(pid, timeout=15)
        self._pid_file(name).unlink(missing_ok=True)

    def _kill_pods(self) -> None:
        """SIGKILL every container of this node: the shims started by our containerd, and what runs under them."""
        socket = str(self.containerd_socket)
        shims = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if cmdline and "containerd-shim" in cmdline[0] and socket in cmdline:
                shims.append(proc)
        victims = []
        for shim in shims:
            try:
                victims.extend(shim.children(recursive=True))
            except psutil.Error:
                pass
            victims.append(shim)
        for proc in victims:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(victims, timeout=10)

    def _unmount(self) -> None:
        root = str(self.root) + "/"
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        ours = sorted({p for p in points if p.startswith(root)}, key=len, reverse=True)
        for point in ours:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)

    def _remove_pod_logs(self) -> None:
        """kubelet writes container logs to /var/log/pods/<ns>_<pod>_<uid>: remove those of this node's pods."""
        pods = self.root / "kubelet" / "root" / "pods"
        uids = {p.name for p in pods.iterdir()} if pods.exists() else set()
        logs = Path("/var/log/pods")
        if uids and logs.exists():
            import shutil

            for entry in logs.iterdir():
                if entry.name.rsplit("_", 1)[-1] in uids:
                    shutil.rmtree(entry, ignore_errors=True)
        containers = Path("/var/log/containers")
        if containers.exists():
            for link in containers.iterdir():
                if link.is_symlink() and not link.exists():
                    link.unlink(missing_ok=True)

    def leftovers(self) -> list[str]:
        """What of this node still exists after `stop()` (empty when the machine is clean of it)."""
        found = []
        root = str(self.root) + "/"
        with open("/proc/self/mountinfo") as f:
            found += [f"mount {line.split()[4]}" for line in f if line.split()[4].startswith(root)]
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if str(self.root) in cmdline:
                found.append(f"process {proc.pid}: {cmdline[:120]}")
        if subprocess.run(["ip", "link", "show", self.network.bridge], capture_output=True).returncode == 0:
            found.append(f"bridge {self.network.bridge}")
        found += [
            f"iptables {b} -t {t} {' '.join(r)}"
            for b, t, r in netfilter.owned_rules(CNI_NETWORK, self.network.pod_cidr)
        ]
        return found

    def status(self) -> tuple[str, str]:
        if not self.running():
            return "stopped", self.server
        try:
            with self.client(timeout=2) as client:
                ready = self.node_ready(client)
        except (httpx.HTTPError, OSError):
            ready = False
        return ("running, node Ready" if ready else "running, node NOT ready"), self.server
