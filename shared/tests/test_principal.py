"""The signed internal principal: accepted only untampered, unexpired and with the right key."""

from __future__ import annotations

import time
import uuid

import pytest

from slipway.errors import Unauthorized
from slipway.principal import Principal, sign, verify

KEY = "k" * 32


def principal() -> Principal:
    return Principal(kind="user", subject="u1", user_id=uuid.uuid4(), organization_id=uuid.uuid4())


def test_round_trip() -> None:
    p = principal()
    got = verify(sign(p, KEY), KEY)
    assert got.user_id == p.user_id and got.organization_id == p.organization_id and got.kind == "user"


def test_wrong_key_rejected() -> None:
    with pytest.raises(Unauthorized):
        verify(sign(principal(), KEY), "other-key")


def test_tampered_payload_rejected() -> None:
    import base64
    import json

    token = sign(principal(), KEY)
    payload, mac = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["is_admin"] = True
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized, match="signature"):
        verify(f"{forged}.{mac}", KEY)


def test_expired_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    token = sign(principal(), KEY, ttl=1)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 60)
    with pytest.raises(Unauthorized, match="expired"):
        verify(token, KEY)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "....", "eyJ9.x"])
def test_garbage_rejected(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        verify(garbage, KEY)
