"""Who may watch: the gateway's signed principal, and query ids that really belong together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import WebSocket

from logs.deployment.upstream import Upstream, UpstreamError
from slipway.errors import Unauthorized
from slipway.principal import HEADER, Principal, verify

# close codes Qovery's clients interpret (INDEX §6.13)
AUTH = 1008  # credentials: permanent
DENIED = 1007  # permission denied / wrong ids: permanent
RETRY = 1011  # internal: retried later


@dataclass(frozen=True)
class Scope:
    principal: Principal
    organization_id: str
    project_id: str
    environment_id: str | None


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _uuid(value: str | None, name: str, required: bool) -> str | None:
    if not value:
        if required:
            raise Refused(DENIED, f"{name} is required")
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Refused(DENIED, f"{name} is not a valid id") from None


async def accept(websocket: WebSocket) -> None:
    """Accept the upgrade, answering sub-protocol `v1` when the client offers it (the console does)."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="v1" if "v1" in offered else None)


async def authorize(websocket: WebSocket, upstream: Upstream, *, need_environment: bool) -> Scope:
    """The caller's scope, or Refused with the close code to send."""
    header = websocket.headers.get(HEADER)
    if not header:
        raise Refused(AUTH, "missing credentials")
    try:
        principal = verify(header, websocket.app.state.settings.internal_auth_key.get_secret_value())
    except Unauthorized as exc:
        raise Refused(AUTH, exc.detail) from None
    q = websocket.query_params
    organization = _uuid(q.get("organization"), "organization", True)
    project = _uuid(q.get("project"), "project", True)
    environment = _uuid(q.get("environment"), "environment", need_environment)
    assert organization is not None and project is not None
    if principal.organization_id is not None and str(principal.organization_id) != organization:
        raise Refused(DENIED, "this token belongs to another organization")
    kind, ident = ("environment", environment) if environment else ("project", project)
    try:
        found = await upstream.scope(kind, ident)
    except UpstreamError as exc:
        if exc.status == 404:
            raise Refused(DENIED, f"{kind} not found") from None
        raise Refused(RETRY, "catalog unavailable") from None
    if found.get("organization_id") != organization or found.get("project_id") != project:
        raise Refused(DENIED, f"the {kind} does not belong to this organization and project")
    return Scope(principal, organization, project, environment)
