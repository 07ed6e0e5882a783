"""Database images built here from Debian's packages (no public registry is reachable on these machines).

PostgreSQL 15, MariaDB 10.11 (Slipway's stand-in for MySQL) and Redis 7 are installed with apt on a Debian bookworm
base made by `debootstrap --variant=minbase` and imported into the engine; their entrypoints (beside this module)
honour the official images' variables, so the settings that run them here run the official images elsewhere.
Everything is built once into a cache outside the checkout (`SLIPWAY_IMAGES_CACHE`, default
`~/.cache/slipway/images`): the base as a tar, each image as a `podman save` archive keyed by its recipe. A stack
loads them into its engine and pushes them to its registry; catalog's CATALOG_DATABASE_IMAGES then points there.
MongoDB has no Debian package: it keeps the official image, which a machine without Docker Hub cannot pull.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).parent
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE = f"localhost/slipway-debian:{SUITE}"
REPOSITORY = "slipway-db"  # images are <registry>/slipway-db/<name>:<tag>


@dataclass(frozen=True)
class Recipe:
    name: str  # the image's name under REPOSITORY
    tag: str
    database: str  # the Slipway database type it serves
    packages: str
    entrypoint: str  # the script beside this module
    command: str
    ports: str
    # what the packages' own setup made that the image must not keep (a data directory the entrypoint makes itself)
    cleanup: str = ""

    def dockerfile(self) -> str:
        return (
            f"FROM {BASE}\n"
            "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
            f"{self.packages} && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man"
            f"{' ' + self.cleanup if self.cleanup else ''}\n"
            f"COPY {self.entrypoint} /usr/local/bin/docker-entrypoint.sh\n"
            f"EXPOSE {self.ports}\n"
            'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]\n'
            f'CMD ["{self.command}"]\n'
        )

    def key(self) -> str:
        script = (HERE / self.entrypoint).read_bytes()
        return hashlib.sha256(self.dockerfile().encode() + script).hexdigest()[:16]

    @property
    def local(self) -> str:
        return f"localhost/{REPOSITORY}/{self.name}:{self.tag}"


RECIPES = (
    Recipe(
        "postgres",
        "15",
        "POSTGRESQL",
        "postgresql-15 postgresql-client-15",
        "postgres.sh",
        "postgres",
        "5432",
        "/var/lib/postgresql/15 /etc/postgresql",
    ),
    Recipe(
        "mariadb",
        "10.11",
        "MYSQL",
        "mariadb-server mariadb-client",
        "mariadb.sh",
        "mariadbd",
        "3306",
        "/var/lib/mysql && mkdir /var/lib/mysql",
    ),
    Recipe("redis", "7", "REDIS", "redis-server redis-tools", "redis.sh", "redis-server", "6379"),
)
# an image with every client (psql, mariadb, redis-cli) and busybox's httpd, for applications in tests and examples
CLIENTS = Recipe(
    "clients", "1", "", "postgresql-client-15 mariadb-client redis-tools busybox", "clients.sh", "sh", "8080"
)


def catalog_images(registry: str) -> dict[str, str]:
    """CATALOG_DATABASE_IMAGES for images pushed to `registry` (MySQL of any version is MariaDB 10.11 here)."""
    out = {}
    for recipe in RECIPES:
        tag = "{version}" if recipe.database != "MYSQL" else recipe.tag
        out[recipe.database] = f"{registry}/{REPOSITORY}/{recipe.name}:{tag}"
    return out


def in_registry(registry: str, repository: str, tag: str) -> bool:
    """Whether a (loopback, plain HTTP) registry holds `repository:tag`."""
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    try:
        found = httpx.head(f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": accept}, timeout=5)
    except httpx.HTTPError:
        return False
    return found.status_code == 200


def cache_dir() -> Path:
    return Path(os.environ.get("SLIPWAY_IMAGES_CACHE") or Path.home() / ".cache" / "slipway" / "images")


class ImageError(RuntimeError):
    """A step of building or loading the images failed: the message names it and its log."""


class DatabaseImages:
    """Builds (once, into the cache), loads into an engine, and pushes to a registry."""

    def __init__(self, podman_env: dict[str, str], say: Callable[[str], None] = print) -> None:
        self.env = {**os.environ, **podman_env}
        self.cache = cache_dir()
        self.cache.mkdir(parents=True, exist_ok=True)
        self.say = say

    def _run(self, what: str, argv: list[str], log: Path, timeout: float = 900) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with log.open("ab") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, timeout=timeout)
        if done.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise ImageError(f"{what} failed (exit {done.returncode}); log: {log}\n" + "\n".join(tail))
        self.say(f"  images     {what} ({time.monotonic() - started:.0f}s)")

    def _exists(self, image: str) -> bool:
        return subprocess.run(["podman", "image", "exists", image], env=self.env).returncode == 0

    def base(self) -> None:
        """The Debian base image in the engine (debootstrap once into the cache, imported each time it lacks)."""
        if self._exists(BASE):
            return
        archive = self.cache / f"debian-{SUITE}-minbase.tar"
        if not archive.exists():
            if shutil.which("debootstrap") is None:
                raise ImageError("debootstrap is missing: run `make system-deps` (apt-get install debootstrap)")
            with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
                root = Path(tmp) / "rootfs"
                self.say(f"  images     debootstrap {SUITE} (minbase) from {MIRROR}, once: about 2 minutes…")
                self._run("debootstrap", ["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR],
                          self.cache / "debootstrap.log")  # fmt: skip
                for cached in (root / "var/cache/apt/archives").glob("*.deb"):
                    cached.unlink()  # debootstrap keeps the packages it installed
                partial = archive.with_suffix(".partial")
                self._run("packing the base", ["tar", "-C", str(root), "-cf", str(partial), "."],
                          self.cache / "debootstrap.log")  # fmt: skip
                partial.rename(archive)
        self._run(f"importing {BASE}", ["podman", "import", str(archive), BASE], self.cache / "import.log")

    def ensure(self, recipe: Recipe) -> None:
        """`recipe`'s image in the engine: loaded from the cache, else built (and saved there)."""
        if self._exists(recipe.local):
            return
        saved = self.cache / f"{recipe.name}-{recipe.tag}-{recipe.key()}.tar"
        if saved.exists():
            self._run(f"loading {recipe.local}", ["podman", "load", "-q", "-i", str(saved)], self.cache / "load.log")
            if self._exists(recipe.local):
                return
        self.base()
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            context = Path(tmp)
            (context / "Dockerfile").write_text(recipe.dockerfile())
            shutil.copy(HERE / recipe.entrypoint, context / recipe.entrypoint)
            self.say(f"  images     building {recipe.local} from Debian's packages ({recipe.packages}), once…")
            log = self.cache / f"build-{recipe.name}.log"
            build = ["podman", "build", "--network=host", "-t", recipe.local, str(context)]
            self._run(f"building {recipe.local}", build, log)
        partial = saved.with_suffix(".partial")
        self._run(f"saving {recipe.local}", ["podman", "save", "-q", "-o", str(partial), recipe.local],
                  self.cache / "save.log")  # fmt: skip
        partial.rename(saved)
        for old in self.cache.glob(f"{recipe.name}-{recipe.tag}-*.tar"):
            if old != saved:
                old.unlink()  # an older recipe's archive

    def push(self, recipe: Recipe, registry: str) -> str:
        target = f"{registry}/{REPOSITORY}/{recipe.name}:{recipe.tag}"
        if in_registry(registry, f"{REPOSITORY}/{recipe.name}", recipe.tag):
            return target
        self._run(f"pushing {target}", ["podman", "push", "-q", "--tls-verify=false", recipe.local, target],
                  self.cache / "push.log")  # fmt: skip
        return target

    def provide(self, registry: str, clients: bool = False) -> dict[str, str]:
        """Every database image in the engine and in `registry`; CATALOG_DATABASE_IMAGES for them."""
        for recipe in (*RECIPES, *((CLIENTS,) if clients else ())):
            self.ensure(recipe)
            self.push(recipe, registry)
        return catalog_images(registry)
