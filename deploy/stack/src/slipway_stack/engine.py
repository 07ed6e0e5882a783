"""The local container engine: Podman's Docker-compatible API service (or an operator's DOCKER_HOST), a
loopback registry (Debian's `docker-registry`), and the busybox base image that examples and tests build on.

ARCHITECTURE §4: on hybrid-cgroup machines Podman needs runc, cgroupfs and lowered ulimits; these go in
a containers.conf of our own selected with CONTAINERS_CONF (the host's files are left alone).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
from pathlib import Path

import httpx

from slipway_stack.procs import read_pid, start_detached, stop_pid, tail

BASE_IMAGE = "localhost/slipway-busybox:latest"
# busybox applets linked in the base image (busybox-static from Debian)
APPLETS = (
    "sh ash httpd echo cat ls sleep nc env printf test true false mkdir rm cp mv date grep sed nslookup id".split()
)
CONTAINERS_CONF = """\
# Written by slipway-stack (ARCHITECTURE §4): runc + cgroupfs work on hybrid cgroups; ulimits may not be raised.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class EngineError(RuntimeError):
    pass


class ContainerEngine:
    """Podman system service on a unix socket in the state directory, unless DOCKER_HOST is given."""

    def __init__(self, state_dir: Path, log_file: Path, pid_file: Path, docker_host: str | None = None) -> None:
        self.state_dir = state_dir
        self.log_file = log_file
        self.pid_file = pid_file
        self.external = docker_host
        self.socket = state_dir / "podman.sock"
        self.tmp_dir = state_dir / "tmp"
        self.conf = state_dir / "containers.conf"
        self.registries_conf = state_dir / "registries.conf"

    @property
    def host(self) -> str:
        """DOCKER_HOST form of the engine address."""
        return self.external or f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        """What a process talking to this engine (or running podman) needs in its environment."""
        env = {"DOCKER_HOST": self.host}
        if not self.external:
            env["CONTAINERS_CONF"] = str(self.conf)
            env["CONTAINERS_REGISTRIES_CONF"] = str(self.registries_conf)
        return env

    def pid(self) -> int | None:
        return read_pid(self.pid_file, marker=str(self.socket))

    def write_config(self, registry: str | None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(CONTAINERS_CONF)
        lines = ['unqualified-search-registries = ["localhost"]', ""]
        if registry:
            lines += ["[[registry]]", f'location = "{registry}"', "insecure = true", ""]
        self.registries_conf.write_text("\n".join(lines))

    def start(self, registry: str | None = None, timeout: float = 30.0) -> None:
        if self.external:
            self.wait(timeout)
            return
        podman = shutil.which("podman")
        if podman is None:
            raise EngineError("podman is not installed (apt-get install podman buildah runc) and DOCKER_HOST is unset")
        self.write_config(registry)
        if self.pid() is None:
            self.socket.unlink(missing_ok=True)
            # Podman's temporary files (image copies, and the digest files of pushes it never removes) go to our
            # state instead of the host's /var/tmp, and what an earlier engine left there goes now
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir.mkdir(parents=True)
            start_detached(
                "podman",
                [podman, "system", "service", "--time=0", f"unix://{self.socket}"],
                log_file=self.log_file,
                pid_file=self.pid_file,
                env={**os.environ, **self.env(), "TMPDIR": str(self.tmp_dir)},
            )
        self.wait(timeout)

    def client(self, timeout: float = 60.0) -> httpx.Client:
        if self.host.startswith("unix://"):
            transport = httpx.HTTPTransport(uds=self.host.removeprefix("unix://"))
            return httpx.Client(transport=transport, base_url="http://engine", timeout=timeout)
        return httpx.Client(base_url=self.host.replace("tcp://", "http://"), timeout=timeout)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client(timeout=2) as client:
                    if client.get("/_ping").status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise EngineError(
                    f"container engine at {self.host} not answering\n  log: {self.log_file}\n{tail(self.log_file)}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        if not self.external:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def ensure_base_image(self) -> str:
        """Import `BASE_IMAGE` (busybox-static in a scratch rootfs) when the engine lacks it."""
        with self.client() as client:
            if client.get(f"/images/{BASE_IMAGE}/json").status_code == 200:
                return BASE_IMAGE
            repo, _, tag = BASE_IMAGE.rpartition(":")
            r = client.post(
                "/images/create",
                params={"fromSrc": "-", "repo": repo, "tag": tag},
                content=busybox_rootfs(),
                headers={"Content-Type": "application/x-tar"},
            )
            if r.status_code != 200 or client.get(f"/images/{BASE_IMAGE}/json").status_code != 200:
                raise EngineError(f"could not import {BASE_IMAGE}: {r.status_code} {r.text[:300]}")
        return BASE_IMAGE


def busybox_rootfs() -> bytes:
    """A tar of a minimal root filesystem: /bin/busybox (static) and its applets, /tmp, /etc basics."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        raise EngineError("busybox-static is not installed (apt-get install busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "srv", "www"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for name, text in {"etc/passwd": "root:x:0:0:root:/:/bin/sh\n", "etc/group": "root:x:0:\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Registry:
    """Debian's docker-registry (distribution) on loopback, storing under the state directory."""

    def __init__(self, state_dir: Path, port: int, log_file: Path, pid_file: Path) -> None:
        self.state_dir = state_dir
        self.port = port
        self.log_file = log_file
        self.pid_file = pid_file
        self.config = state_dir / "config.yml"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        return read_pid(self.pid_file, marker=str(self.config))

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise EngineError("docker-registry is not installed (apt-get install docker-registry)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.state_dir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        if self.pid() is None:
            start_detached(
                "registry", [binary, "serve", str(self.config)], log_file=self.log_file, pid_file=self.pid_file
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://{self.address}/v2/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise EngineError(
                    f"registry not answering on {self.address}\n  log: {self.log_file}\n{tail(self.log_file)}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
