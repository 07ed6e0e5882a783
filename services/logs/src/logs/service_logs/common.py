"""What both websockets share: accepting (sub-protocol `v1`), the principal check, close codes, time parsing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import WebSocket

from slipway.errors import SlipwayError
from slipway.principal import HEADER, Principal, verify

# Close codes Qovery's clients interpret (INDEX §6.13): 1008 credentials, 1007 permission or request refused
# (permanent: retrying the same request cannot succeed), 1011 internal, retried later.
AUTH = 1008
REFUSED = 1007
INTERNAL = 1011
_RFC3339_FRACTION = re.compile(r"(\.\d{6})\d+")


class Refused(Exception):
    """Close the websocket with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def accept(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="v1" if "v1" in offered else None)


def principal_of(websocket: WebSocket) -> Principal:
    value = websocket.headers.get(HEADER)
    if not value:
        raise Refused(AUTH, "missing credentials")
    try:
        return verify(value, websocket.app.state.settings.internal_auth_key.get_secret_value())
    except SlipwayError as exc:
        raise Refused(AUTH, exc.detail[:120]) from None


def check_organization(principal: Principal, organization: str) -> None:
    """An organization-bound API token only reaches its own organization."""
    if principal.organization_id is not None and str(principal.organization_id) != organization.lower():
        raise Refused(REFUSED, "this token belongs to another organization")


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code=code, reason=reason[:120])
    except RuntimeError:  # already closed by the client
        pass


def required(websocket: WebSocket, *names: str) -> dict[str, str]:
    values = {name: websocket.query_params.get(name) or "" for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise Refused(REFUSED, f"missing query parameter(s): {', '.join(missing)}")
    return values


def parse_start(value: str | None) -> int | None:
    """`start` as epoch milliseconds: an integer (seconds, ms, µs or ns, told apart by size) or RFC 3339."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        for scale, divisor in ((1e17, 1_000_000), (1e14, 1_000), (1e11, 1)):
            if abs(number) >= scale:
                return int(number // divisor)
        return int(number * 1000)
    try:
        parsed = datetime.fromisoformat(_RFC3339_FRACTION.sub(r"\1", text.replace("z", "Z")))
    except ValueError:
        raise Refused(REFUSED, f"start must be epoch milliseconds or RFC 3339, got {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def parse_limit(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        limit = int(value)
    except ValueError:
        raise Refused(REFUSED, f"limit must be a non-negative integer, got {value[:20]!r}") from None
    if limit < 0:
        raise Refused(REFUSED, "limit must be a non-negative integer")
    return limit
