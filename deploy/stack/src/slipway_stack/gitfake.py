"""A local stand-in for the Git providers' REST APIs (third-party services, the one thing tests may fake): it
answers GitHub's, GitLab's and Bitbucket's pull request, comment and commit status calls from what the test put in
`pulls`, and records every call with its path, body and authorization header."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    body: Any
    auth: str


@dataclass
class FakeProvider:
    url: str
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # number → the provider's PR object
    commits: dict[str, str] = field(default_factory=dict)  # Bitbucket short hash → full hash
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def recorded(self, method: str, pattern: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        pull = re.search(r"/(?:pulls|merge_requests|pullrequests)/(\d+)$", path)
        if method == "GET" and pull:
            found = self.pulls.get(int(pull.group(1)))
            return (200, found) if found is not None else (404, {"message": "Not Found"})
        commit = re.search(r"/commit/([0-9a-f]+)$", path)
        if method == "GET" and commit:
            full = self.commits.get(commit.group(1))
            return (200, {"hash": full}) if full else (404, {"error": "no such commit"})
        if method in ("POST", "PATCH", "PUT"):
            with self.lock:
                number = len(self.calls)
            edited = re.search(r"/(?:comments|notes)/(\d+)$", path)
            return (200 if edited else 201), {"id": int(edited.group(1)) if edited else 1000 + number}
        return 404, {"message": "Not Found"}


@contextmanager
def fake_provider() -> Iterator[FakeProvider]:
    holder: dict[str, FakeProvider] = {}

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake = holder["fake"]
            auth = self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN") or ""
            with fake.lock:
                fake.calls.append(Call(self.command, self.path, body, auth))
            status, answer = fake.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["fake"] = FakeProvider(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["fake"]
    finally:
        server.shutdown()
        server.server_close()
