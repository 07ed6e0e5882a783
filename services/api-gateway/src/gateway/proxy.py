"""Forward authenticated HTTP requests and websockets to the owning service with a signed principal."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import websockets
from fastapi import Request, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from slipway.errors import ServiceUnavailable
from slipway.principal import HEADER
from slipway.tracing import inject_headers

log = logging.getLogger("gateway.proxy")

# Headers that describe the hop, or carry the caller's credentials (never forwarded inside).
_DROP_REQUEST = {
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    "authorization",
    "content-length",
    "cookie",
    HEADER.lower(),
    "traceparent",
    "tracestate",
}
_DROP_RESPONSE = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "server",
    "date",
}
NO_ROUTE_HEADER = "x-slipway-no-route"


async def forward_http(
    http: httpx.AsyncClient,
    request: Request,
    upstream: str,
    principal_header: str | None,
    body: bytes,
    timeout: float,
) -> Response:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
    if principal_header is not None:
        headers[HEADER] = principal_header
    client = request.client.host if request.client else ""
    headers["x-forwarded-for"] = ", ".join(filter(None, [request.headers.get("x-forwarded-for"), client]))
    inject_headers(headers)
    url = upstream + request.url.path
    try:
        upstream_response = await http.request(
            request.method,
            url,
            params=list(request.query_params.multi_items()),
            content=body,
            headers=headers,
            timeout=timeout,
        )
    except httpx.TimeoutException:
        raise ServiceUnavailable("the owning service did not answer in time") from None
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the owning service is unavailable ({type(exc).__name__})") from None
    response_headers = {k: v for k, v in upstream_response.headers.items() if k.lower() not in _DROP_RESPONSE}
    return Response(upstream_response.content, upstream_response.status_code, headers=response_headers)


def websocket_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """Credentials from the Authorization header, or from `Sec-WebSocket-Protocol: v1, auth.bearer.<jwt>`.

    Returns (authorization header value, sub-protocol to answer with).
    """
    protocols = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    subprotocol = "v1" if "v1" in protocols else None
    authorization = websocket.headers.get("authorization")
    if not authorization:
        for proto in protocols:
            if proto.startswith("auth.bearer."):
                authorization = "Bearer " + proto[len("auth.bearer.") :]
    return authorization, subprotocol


async def forward_websocket(
    websocket: WebSocket, upstream: str, principal_header: str, subprotocol: str | None
) -> None:
    """Pump frames both ways until either side closes; close codes are passed through."""
    ws_url = upstream.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + websocket.url.path
    if websocket.url.query:
        ws_url += "?" + websocket.url.query
    headers = inject_headers({HEADER: principal_header})
    try:
        upstream_ws = await websockets.connect(ws_url, additional_headers=headers, open_timeout=10, max_size=1 << 22)
    except (OSError, InvalidStatus, TimeoutError, websockets.InvalidHandshake) as exc:
        log.warning("websocket upstream refused: %s", exc)
        await websocket.accept(subprotocol=subprotocol)  # then 1011, which clients retry later
        await websocket.close(code=1011, reason="log service unavailable")
        return
    await websocket.accept(subprotocol=subprotocol)

    async def client_to_upstream() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    await upstream_ws.close(code=message.get("code", 1000))
                    return
                if message.get("text") is not None:
                    await upstream_ws.send(message["text"])
                elif message.get("bytes") is not None:
                    await upstream_ws.send(message["bytes"])
        except (WebSocketDisconnect, ConnectionClosed):
            return

    async def upstream_to_client() -> None:
        try:
            async for frame in upstream_ws:
                if isinstance(frame, str):
                    await websocket.send_text(frame)
                else:
                    await websocket.send_bytes(frame)
            code = upstream_ws.close_code or 1000
            reason = upstream_ws.close_reason or ""
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else 1011
            reason = exc.rcvd.reason if exc.rcvd else "upstream closed"
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason)

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream_ws.close()
