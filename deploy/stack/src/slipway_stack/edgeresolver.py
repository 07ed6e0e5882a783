"""The edge resolver process (`python -m slipway.edgedns`): Caddy's DNS for dynamic upstreams, beside Caddy."""

from __future__ import annotations

import socket
import struct
import sys
import time
from pathlib import Path

from slipway_stack.procs import read_pid, start_detached, stop_pid, tail

MODULE = "slipway.edgedns"


class EdgeResolverError(RuntimeError):
    pass


def answers(port: int, timeout: float = 0.5) -> bool:
    """Whether something answers DNS on 127.0.0.1:`port` (a query for a name outside the edge: NXDOMAIN)."""
    query = struct.pack("!HHHHHH", 0x5157, 0x0100, 1, 0, 0, 0) + b"\x05probe\x00" + struct.pack("!HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, ("127.0.0.1", port))
            data = s.recv(512)
        except OSError:
            return False
    return len(data) >= 12 and data[:2] == b"\x51\x57"


class EdgeResolver:
    def __init__(self, port: int, log_file: Path, pid_file: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.env = env
        self.log_file = log_file
        self.pid_file = pid_file

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        return read_pid(self.pid_file, marker=self.address)

    def start(self, timeout: float = 20.0) -> None:
        if self.pid() is None:
            start_detached(
                "edge resolver",
                [sys.executable, "-m", MODULE, "--listen", self.address],
                log_file=self.log_file,
                pid_file=self.pid_file,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while not answers(self.port):
            if time.monotonic() > deadline:
                raise EdgeResolverError(
                    f"the edge resolver is not answering\n  log: {self.log_file}\n{tail(self.log_file)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
