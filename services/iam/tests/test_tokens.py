"""Bootstrap, introspection and revocation of API tokens; secrets stored only as hashes."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from iam.main import create_app
from iam.settings import IamSettings
from slipway.principal import HEADER, Principal, service_principal, sign
from slipway_stack.testing import serve

KEY = "iam-test-internal-key"


def as_service() -> dict[str, str]:
    return {HEADER: sign(service_principal("test"), KEY)}


@pytest.fixture
async def iam(database_url: str, nats_server) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:  # type: ignore[no-untyped-def]
    settings = IamSettings(database_url=database_url, nats_url=nats_server.url, internal_auth_key=KEY)
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client, app


async def test_bootstrap_requires_a_service_principal(iam) -> None:  # type: ignore[no-untyped-def]
    client, _ = iam
    r = await client.post("/internal/bootstrap", json={"email": "a@b.c"})
    assert r.status_code == 401 and r.json()["detail"] == "missing credentials"
    user = Principal(kind="user", subject="someone")
    r = await client.post("/internal/bootstrap", json={"email": "a@b.c"}, headers={HEADER: sign(user, KEY)})
    assert r.status_code == 403
    r = await client.post(
        "/internal/bootstrap", json={"email": "a@b.c"}, headers={HEADER: sign(service_principal("x"), "wrong-key")}
    )
    assert r.status_code == 401


async def test_bootstrap_validates_email(iam) -> None:  # type: ignore[no-untyped-def]
    client, _ = iam
    r = await client.post("/internal/bootstrap", json={"email": "not-an-email"}, headers=as_service())
    assert r.status_code == 400 and "email" in r.json()["detail"]


async def test_token_lifecycle_and_hash_only_storage(iam, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    client, app = iam
    caplog.set_level(logging.DEBUG)
    r = await client.post("/internal/bootstrap", json={"email": "Admin@Example.com"}, headers=as_service())
    assert r.status_code == 201, r.text
    issued = r.json()
    secret = issued["token"]
    assert secret.startswith("qov_") and len(secret) >= 40
    # Qovery's CLI sends a credential as Bearer when the part before the first '.' is std base64.
    with pytest.raises(binascii.Error):
        base64.b64decode(secret.split(".")[0], validate=True)

    r = await client.post("/internal/introspect", json={"token": secret}, headers=as_service())
    assert r.status_code == 200
    principal = Principal.model_validate(r.json())
    assert principal.kind == "api_token" and principal.is_admin
    assert str(principal.user_id) == issued["user_id"] and str(principal.token_id) == issued["token_id"]

    again = (await client.post("/internal/bootstrap", json={"email": "admin@example.com"}, headers=as_service())).json()
    assert again["user_id"] == issued["user_id"] and again["token"] != secret

    # The secret is nowhere in the database: not in the token table, not in any event.
    async with app.state.db.transaction() as s:
        dump = (
            await s.execute(text("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM iam.api_tokens) t"))
        ).scalar_one()
        events = (await s.execute(text("SELECT string_agg(data, ' ') FROM iam.outbox"))).scalar_one()
    assert secret not in dump and secret[4:] not in dump
    assert "evt.iam.api_token.created" in events and secret not in events
    assert secret not in caplog.text

    r = await client.post(f"/internal/tokens/{issued['token_id']}/revoke", headers=as_service())
    assert r.status_code == 204
    r = await client.post("/internal/introspect", json={"token": secret}, headers=as_service())
    assert r.status_code == 401
    r = await client.post("/internal/introspect", json={"token": again["token"]}, headers=as_service())
    assert r.status_code == 200  # revoking one token leaves the others alone
    r = await client.post(f"/internal/tokens/{issued['token_id']}/revoke", headers=as_service())
    assert r.status_code == 404


async def test_unknown_token_is_401(iam) -> None:  # type: ignore[no-untyped-def]
    client, _ = iam
    r = await client.post("/internal/introspect", json={"token": "qov_nope"}, headers=as_service())
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
