"""Kubernetes 1.20.2 node binaries built once from Debian's `kubernetes` source package into a cache.

KUBERNETES-LOCAL.md: no Kubernetes binary can be downloaded here, but bookworm's source package carries the
upstream tree with its vendor/ directory and Debian's Go builds it (about 12 minutes on two cores). apt is
run with a private sources list and lists directory inside the cache, so the host's apt setup is untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

VERSION = "1.20.2"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
SOURCE_PACKAGE = "kubernetes"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BUILD_TOOLS = {"go": "golang-go", "rsync": "rsync", "jq": "jq", "make": "make"}

Progress = Callable[[str], None]


def say(message: str) -> None:
    print(message, flush=True)  # shown as it happens, also through a pipe (CI)


class BuildError(RuntimeError):
    """The binaries could not be built; the message says which step failed and where its log is."""


def default_cache() -> Path:
    """`SLIPWAY_KUBERNETES_CACHE`, else `$XDG_CACHE_HOME/slipway/kubernetes` (outside any checkout)."""
    explicit = os.environ.get("SLIPWAY_KUBERNETES_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "slipway" / "kubernetes"


class KubeBinaries:
    """The cached binaries of one version: `ensure()` builds them when missing, `path(name)` finds one."""

    def __init__(self, cache: Path | None = None, version: str = VERSION) -> None:
        self.root = (cache or default_cache()) / version
        self.bin = self.root / "bin"
        self.stamp = self.bin / ".complete"
        self.log_file = self.root / "build.log"

    def ready(self) -> bool:
        return self.stamp.exists() and all((self.bin / name).exists() for name in COMMANDS)

    def path(self, name: str) -> str:
        return str(self.bin / name)

    def ensure(self, progress: Progress = say) -> Path:
        """The bin directory, building it first when the cache is empty (progress lines go to `progress`)."""
        if self.ready():
            return self.bin
        missing = [pkg for tool, pkg in BUILD_TOOLS.items() if shutil.which(tool) is None]
        if missing:
            raise BuildError(f"building Kubernetes needs {', '.join(missing)} (apt-get install {' '.join(missing)})")
        self.root.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        progress(f"  kubernetes building {VERSION} from Debian's source package into {self.root} (once, ~12 min)")
        tree = self._source(progress)
        self._make(tree, progress)
        self.bin.mkdir(exist_ok=True)
        out = tree / "_output" / "local" / "bin" / "linux" / "amd64"
        for name in COMMANDS:
            if not (out / name).exists():
                raise BuildError(f"the build finished without {name}\n  log: {self.log_file}")
            shutil.copy2(out / name, self.bin / name)
        self.stamp.write_text(f"{VERSION} built in {time.monotonic() - started:.0f}s\n")
        shutil.rmtree(self.root / "work", ignore_errors=True)  # the tree and Go's caches: ~2 GB
        progress(f"  kubernetes binaries ready in {self.bin} ({time.monotonic() - started:.0f}s)")
        return self.bin

    # -- steps -------------------------------------------------------------------------------------
    def _run(self, step: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        with open(self.log_file, "ab") as log:
            log.write(f"\n===== {step}: {' '.join(argv)}\n".encode())
            log.flush()
            result = subprocess.run(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise BuildError(
                f"{step} failed (exit {result.returncode})\n  log: {self.log_file}\n{_tail(self.log_file)}"
            )

    def _source(self, progress: Progress) -> Path:
        """Download the source package with a private apt configuration and unpack its upstream tarball."""
        work = self.root / "work"
        tree = work / "gopath" / "src" / "k8s.io" / "kubernetes"
        if (tree / "Makefile").exists():
            return tree
        apt = work / "apt"
        for sub in ("lists/partial", "cache/archives/partial", "download"):
            (apt / sub).mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(f"deb-src {DEBIAN_MIRROR} bookworm main\n")
        options = [
            f"-oDir::Etc::SourceList={apt / 'sources.list'}",
            "-oDir::Etc::SourceParts=/nonexistent",
            f"-oDir::State::Lists={apt / 'lists'}",
            f"-oDir::Cache={apt / 'cache'}",
            "-oAPT::Sandbox::User=root",
        ]
        progress("  kubernetes   fetching the source index and package (34 MB)…")
        self._run("apt-get update (deb-src)", ["apt-get", "-q", *options, "update"], apt)
        download = apt / "download"
        self._run("apt-get source", ["apt-get", "-q", *options, "source", "--download-only", SOURCE_PACKAGE], download)
        origs = sorted(download.glob(f"{SOURCE_PACKAGE}_*.orig.tar.gz"))
        if not origs:
            raise BuildError(f"apt-get source left no orig tarball in {download}\n  log: {self.log_file}")
        progress(f"  kubernetes   unpacking {origs[-1].name}…")
        unpacked = work / "unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)
        unpacked.mkdir()
        with tarfile.open(origs[-1]) as archive:
            archive.extractall(unpacked, filter="tar")
        tops = [p for p in unpacked.iterdir() if (p / "Makefile").exists()]
        if len(tops) != 1:
            raise BuildError(
                f"the source tarball has no single top directory with a Makefile: {list(unpacked.iterdir())}"
            )
        tree.parent.mkdir(parents=True, exist_ok=True)
        tree.symlink_to(tops[0])  # the build insists on $GOPATH/src/k8s.io/kubernetes
        return tree

    def _make(self, tree: Path, progress: Progress) -> None:
        work = self.root / "work"
        env = {
            **os.environ,
            "GOPATH": str(work / "gopath"),
            "GOCACHE": str(work / "gocache"),
            "CGO_ENABLED": "0",
            "GOFLAGS": "-mod=vendor",
            "KUBE_GIT_VERSION": f"v{VERSION}",
            "KUBE_GIT_TREE_STATE": "clean",
        }
        progress(f"  kubernetes   compiling {', '.join(COMMANDS)} (log: {self.log_file})…")
        with open(self.log_file, "ab") as log:
            log.write(f"\n===== make in {tree}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                ["make", f"WHAT={' '.join('cmd/' + c for c in COMMANDS)}"],
                cwd=tree,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            started = time.monotonic()
            while proc.poll() is None:
                time.sleep(5)
                if int(time.monotonic() - started) % 60 < 5:
                    progress(f"  kubernetes   … still compiling ({time.monotonic() - started:.0f}s)")
        if proc.returncode != 0:
            raise BuildError(f"make failed (exit {proc.returncode})\n  log: {self.log_file}\n{_tail(self.log_file)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
