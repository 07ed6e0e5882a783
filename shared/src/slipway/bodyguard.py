"""ASGI middleware rejecting oversized bodies (413) and non-JSON bodies (415) before any handler runs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.errors import error_response

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BodyGuard:
    """Enforce a maximum body size and `application/json` bodies.

    `other_types` maps a path regex to extra accepted media types (e.g. kubeconfig YAML).
    Requests without a body are never rejected for their content type.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = 1_048_576,
        other_types: Iterable[tuple[str, set[str]]] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.other_types = [(re.compile(p), types) for p, types in other_types]

    def _accepted(self, path: str) -> set[str]:
        accepted = {"application/json"}
        for pattern, types in self.other_types:
            if pattern.search(path):
                accepted |= types
        return accepted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await error_response(400, "invalid Content-Length header", path)(scope, receive, send)
                return
            if int(length) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        has_body = (length is not None and int(length) > 0) or "transfer-encoding" in headers
        if has_body:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media not in self._accepted(path):
                shown = media or "none"
                detail = f"unsupported content type {shown}; send {' or '.join(sorted(self._accepted(path)))}"
                await error_response(415, detail, path)(scope, receive, send)
                return

        if length is None and "transfer-encoding" in headers:
            # Chunked upload: buffer it up to the limit so an oversized body never reaches a handler.
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                if len(body) > self.max_body_bytes:
                    await self._too_large(scope, receive, send)
                    return
                if not message.get("more_body", False):
                    break
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body exceeds {self.max_body_bytes} bytes"
        await error_response(413, detail, scope["path"])(scope, receive, send)
