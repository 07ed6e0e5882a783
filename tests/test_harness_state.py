"""The test harness leaves no state behind: a killed session's Postgres folder is swept by the next session."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from slipway_stack.testing import sweep_abandoned_pg_dirs


def _pg_dir(pid: int, age: float) -> Path:
    root = Path(tempfile.mkdtemp(prefix="slipway-pg-", dir="/var/tmp"))
    (root / "pgdata").mkdir()
    (root / "pgdata" / "postmaster.pid").write_text(f"{pid}\n/var/tmp/x\n")
    then = time.time() - age
    os.utime(root, (then, then))
    return root


def test_only_old_folders_whose_postgres_is_gone_are_swept() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned = _pg_dir(dead.pid, age=3600)
    running = _pg_dir(os.getpid(), age=3600)  # a live "postmaster": another session still using it
    fresh = _pg_dir(dead.pid, age=0)  # a session that is just starting
    try:
        removed = sweep_abandoned_pg_dirs(min_age=600)
        assert abandoned in removed and not abandoned.exists()
        assert running.exists() and fresh.exists()
        assert running not in removed and fresh not in removed
    finally:
        for root in (abandoned, running, fresh):
            subprocess.run(["rm", "-rf", str(root)], check=True)
