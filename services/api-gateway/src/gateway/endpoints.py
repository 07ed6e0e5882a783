"""Public entry points: every REST path and websocket is authenticated, then forwarded to its owner."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, WebSocket
from starlette.responses import Response

from gateway.proxy import NO_ROUTE_HEADER, forward_http, forward_websocket, websocket_token
from gateway.routing import resolve, websocket_service
from gateway.settings import GatewaySettings
from slipway.errors import BadRequest, NotFound, SlipwayError, error_response
from slipway.principal import sign

router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _check_json(request: Request, body: bytes) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media == "application/json":
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from None


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def public_http(request: Request) -> Response:
    path = request.url.path
    route = resolve(path)
    if route is None:
        raise NotFound(f"no route matches {request.method} {path}")
    if request.method not in route.methods:
        return error_response(
            405,
            f"method {request.method} is not allowed on {path}",
            path,
            headers={"Allow": ", ".join(sorted(route.methods))},
        )
    settings: GatewaySettings = request.app.state.settings
    principal = await request.app.state.authenticator.authenticate(request.headers.get("authorization"))
    body = await request.body()
    _check_json(request, body)
    response = await forward_http(
        request.app.state.http,
        request,
        settings.upstream(route.service),
        sign(principal, settings.internal_auth_key.get_secret_value()),
        body,
        settings.upstream_timeout_seconds,
    )
    if response.status_code == 404 and response.headers.get(NO_ROUTE_HEADER):
        return error_response(
            501, f"{request.method} {route.template} is not available yet in this Slipway version", path
        )
    return response


@router.websocket("/{path:path}")
async def public_websocket(websocket: WebSocket) -> None:
    service = websocket_service(websocket.url.path)
    authorization, subprotocol = websocket_token(websocket)
    if service is None:
        await websocket.close(code=1008, reason="unknown websocket endpoint")  # handshake refused: 403
        return
    settings: GatewaySettings = websocket.app.state.settings
    try:
        principal = await websocket.app.state.authenticator.authenticate(authorization)
    except SlipwayError as exc:
        # Accept, then close with the code clients interpret (1008: credentials; 1011: retry later).
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(code=1008 if exc.status_code == 401 else 1011, reason=exc.detail[:120])
        return
    await forward_websocket(
        websocket,
        settings.upstream(service),
        sign(principal, settings.internal_auth_key.get_secret_value()),
        subprotocol,
    )
