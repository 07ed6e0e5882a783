"""Public entry points: every REST path and websocket is authenticated, authorized, then forwarded."""

from __future__ import annotations

import json
import logging
import uuid

from fastapi import APIRouter, Request, WebSocket
from starlette.responses import Response

from gateway.authz import Target
from gateway.proxy import NO_ROUTE_HEADER, forward_http, forward_websocket, websocket_token
from gateway.routing import Route, resolve, websocket_service
from gateway.settings import GatewaySettings
from slipway import jsontext
from slipway.errors import BadRequest, NotFound, SlipwayError, error_response
from slipway.principal import HEADER, Principal, sign

log = logging.getLogger("gateway")
router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _check_json(request: Request, body: bytes) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media == "application/json":
        _, why = jsontext.loads_checked(body)
        if why is not None:
            raise BadRequest(why)


def origin(user_agent: str) -> str:
    """Qovery's OrganizationEventOrigin, guessed from the client."""
    ua = user_agent.lower()
    if "qovery-cli" in ua or ua.startswith("qovery/"):
        return "CLI"
    if "terraform" in ua:
        return "TERRAFORM_PROVIDER"
    if "mozilla" in ua:
        return "CONSOLE"
    return "API"


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
    key = settings.internal_auth_key.get_secret_value()
    body = await request.body()
    _check_json(request, body)
    if route.public:
        response = await _forward(request, route, body, None)  # anonymous: no principal at all
        if route.template == WEBHOOK and response.status_code == 202:
            await _audit_delivery(request, route, response, key)
        return response
    principal = await request.app.state.authenticator.authenticate(request.headers.get("authorization"))
    principal = principal.model_copy(update={"origin": origin(request.headers.get("user-agent", ""))})
    principal_header = sign(principal, key)
    target: Target | None = None
    try:
        target = await request.app.state.authorizer.target(
            route.template, request.method, path, dict(request.query_params), body
        )
        caller = f"{principal.kind}:{principal.subject}"
        await request.app.state.authorizer.decide(target, principal_header, caller)
        for extra in await request.app.state.authorizer.extra_targets(route.template, body, target):
            await request.app.state.authorizer.decide(extra, principal_header, caller)
        response = await _forward(request, route, body, principal_header)
    except SlipwayError as exc:
        await _audit(request, principal_header, route, target, exc.status_code)
        raise
    if target.action == "organization.create" and response.status_code == 201:
        # the new organization's own trail starts with its creation
        target.organization_id = _created_id(response)
        target.resource_type, target.resource_id = "organization", str(target.organization_id or "")
    await _audit(request, principal_header, route, target, response.status_code)
    return response


WEBHOOK = "/slipway/webhooks/{id}/{id}"


async def _audit_delivery(request: Request, route: Route, response: Response, key: str) -> None:
    """An accepted Git delivery goes in its organization's audit trail, as done by the provider's webhook."""
    _, _, provider, organization = request.url.path.rstrip("/").rsplit("/", 3)
    try:
        organization_id = uuid.UUID(organization)
        answer = json.loads(bytes(response.body))
    except (ValueError, TypeError):
        return
    principal = Principal(kind="service", subject=f"webhook:{provider.lower()}"[:64], origin="GIT")
    target = Target(
        action=f"git.webhook.{answer.get('status', 'accepted')}"[:64],
        organization_id=organization_id,
        resource_type="git_webhook_delivery",
        resource_id=str(answer.get("delivery_id", ""))[:64] or None,
    )
    await _audit(request, sign(principal, key), route, target, response.status_code)


def _created_id(response: Response) -> uuid.UUID | None:
    try:
        return uuid.UUID(json.loads(bytes(response.body))["id"])
    except (ValueError, KeyError, TypeError):
        return None


async def _forward(request: Request, route: Route, body: bytes, principal_header: str | None) -> Response:
    settings: GatewaySettings = request.app.state.settings
    response = await forward_http(
        request.app.state.http,
        request,
        settings.upstream(route.service),
        principal_header,
        body,
        settings.upstream_timeout_seconds,
    )
    if response.status_code == 404 and response.headers.get(NO_ROUTE_HEADER):
        return error_response(
            501, f"{request.method} {route.template} is not available yet in this Slipway version", request.url.path
        )
    return response


async def _audit(request: Request, principal_header: str, route: Route, target: Target | None, status: int) -> None:
    """Record every mutating call at iam; a failure to record is logged, never hidden from operators."""
    if request.method not in MUTATING:
        return
    entry = {
        "organization_id": str(target.organization_id) if target and target.organization_id else None,
        "action": target.action if target else f"{request.method} {route.template}",
        "method": request.method,
        "path": request.url.path[:2048],
        "resource_type": target.resource_type if target else None,
        "resource_id": target.resource_id if target else None,
        "origin": origin(request.headers.get("user-agent", "")),
        "status_code": status,
    }
    settings: GatewaySettings = request.app.state.settings
    try:
        r = await request.app.state.http.post(
            f"{settings.upstream('iam')}/internal/audit", json=entry, headers={HEADER: principal_header}, timeout=10
        )
        if r.status_code >= 300:
            log.error("audit entry rejected by iam (%s): %s", r.status_code, entry)
    except Exception as exc:  # noqa: BLE001
        log.error("audit entry could not be recorded (%s): %s", type(exc).__name__, entry)


@router.websocket("/{path:path}")
async def public_websocket(websocket: WebSocket) -> None:
    service = websocket_service(websocket.url.path)
    authorization, subprotocol = websocket_token(websocket)
    if service is None:
        await websocket.close(code=1008, reason="unknown websocket endpoint")  # handshake refused: 403
        return
    settings: GatewaySettings = websocket.app.state.settings
    key = settings.internal_auth_key.get_secret_value()
    try:
        principal = await websocket.app.state.authenticator.authenticate(authorization)
    except SlipwayError as exc:
        # Accept, then close with the code clients interpret (1008: credentials; 1011: retry later).
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(code=1008 if exc.status_code == 401 else 1011, reason=exc.detail[:120])
        return
    principal_header = sign(principal, key)
    try:
        await websocket.app.state.authorizer.decide(
            await _websocket_target(websocket), principal_header, f"{principal.kind}:{principal.subject}"
        )
    except SlipwayError as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(code=1011 if exc.status_code >= 500 else 1007, reason=exc.detail[:120])
        return
    await forward_websocket(websocket, settings.upstream(service), principal_header, subprotocol)


async def _websocket_target(websocket: WebSocket) -> Target:
    """The narrowest scope the query names: environment, else project, else organization."""
    q = websocket.query_params
    authorizer = websocket.app.state.authorizer
    if q.get("environment"):
        return await authorizer.target("/environment/{id}", "GET", f"/environment/{q['environment']}", {}, b"")
    if q.get("project"):
        return await authorizer.target("/project/{id}", "GET", f"/project/{q['project']}", {}, b"")
    if q.get("organization"):
        return await authorizer.target("/organization/{id}", "GET", f"/organization/{q['organization']}", {}, b"")
    raise NotFound("an organization is required")
