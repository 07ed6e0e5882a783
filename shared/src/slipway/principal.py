"""Internal service-to-service auth: a short-lived HMAC-signed principal header that services verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import BaseModel, Field, ValidationError

from slipway.errors import Forbidden, Unauthorized

HEADER = "X-Slipway-Principal"
DEFAULT_TTL = 60


class Principal(BaseModel):
    """Who is calling, as authenticated by the gateway (or a service acting for itself)."""

    kind: Literal["user", "api_token", "service"]
    subject: str  # user id, token id, or service name
    user_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None  # set for organization-bound API tokens
    is_admin: bool = False  # Slipway instance administrator (bootstrap account)
    origin: str = "API"
    iat: int = Field(default_factory=lambda: int(time.time()))
    exp: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _mac(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest())


def sign(principal: Principal, key: str, ttl: int = DEFAULT_TTL) -> str:
    now = int(time.time())
    body = principal.model_copy(update={"iat": now, "exp": now + ttl})
    payload = _b64(json.dumps(body.model_dump(mode="json"), separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, payload)}"


def verify(value: str, key: str, *, leeway: int = 5) -> Principal:
    """Return the principal carried by `value`, or raise Unauthorized."""
    try:
        payload, mac = value.split(".", 1)
    except ValueError:
        raise Unauthorized("malformed internal principal") from None
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise Unauthorized("invalid internal principal signature")
    try:
        principal = Principal.model_validate_json(_unb64(payload))
    except (ValidationError, ValueError):
        raise Unauthorized("malformed internal principal") from None
    if principal.exp + leeway < time.time():
        raise Unauthorized("expired internal principal")
    return principal


def service_principal(name: str) -> Principal:
    return Principal(kind="service", subject=name)


async def require_principal(request: Request) -> Principal:
    value = request.headers.get(HEADER)
    if not value:
        raise Unauthorized("missing credentials")
    return verify(value, request.app.state.settings.internal_auth_key.get_secret_value())


async def require_service(request: Request) -> Principal:
    """Internal routes: only other Slipway services (never a user's forwarded principal)."""
    principal = await require_principal(request)
    if principal.kind != "service":
        raise Forbidden("internal endpoint")
    return principal


PrincipalDep = Annotated[Principal, Depends(require_principal)]
