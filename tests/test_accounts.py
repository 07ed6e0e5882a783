"""Accounts and credentials through the gateway: passwords, JWTs and their attacks, refresh, API tokens, audit."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from iam.audit.retention import purge_once
from iam.roles import policy
from slipway_stack.testing import wait_until

from .conftest import PASSWORD, Platform, run_platform

ERROR_KEYS = {"status", "error", "detail", "message", "timestamp", "path"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(r: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    body = r.json()
    assert ERROR_KEYS <= body.keys() and body["status"] == status
    return body


async def test_password_sign_up_login_and_account(platform: Platform) -> None:
    api = platform.api
    tokens = await platform.signup("Dev@Example.com")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    me = (await api.get("/account", headers=bearer(tokens["access_token"]))).json()
    assert me["communication_email"] == "dev@example.com" and uuid.UUID(me["id"]) and me["created_at"].endswith("Z")
    r = await api.post("/auth/login", json={"email": "dev@example.com", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["access_token"] != tokens["access_token"]
    assert_error(await api.post("/auth/login", json={"email": "dev@example.com", "password": "nope"}), 401)
    assert_error(await api.post("/auth/login", json={"email": "ghost@example.com", "password": "nope"}), 401)
    assert_error(await api.post("/auth/signup", json={"email": "dev@example.com", "password": PASSWORD}), 409)
    assert_error(await api.post("/auth/signup", json={"email": "x@example.com", "password": "short"}), 400)
    assert_error(await api.get("/account"), 401)


async def test_repeated_failures_throttle_sign_in(platform: Platform) -> None:
    api = platform.api
    await platform.signup("victim@example.com")
    for _ in range(5):
        assert_error(await api.post("/auth/login", json={"email": "victim@example.com", "password": "bad"}), 401)
    r = await api.post("/auth/login", json={"email": "victim@example.com", "password": PASSWORD})
    assert_error(r, 429)
    assert int(r.headers["retry-after"]) > 0  # even the right password waits while locked


async def test_refresh_rotates_and_reuse_signs_everything_out(platform: Platform) -> None:
    api = platform.api
    first = await platform.signup("rot@example.com")
    second = (await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await api.get("/account", headers=bearer(second["access_token"]))).status_code == 200
    assert_error(await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)  # reuse
    assert_error(await api.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)
    third = (await api.post("/auth/login", json={"email": "rot@example.com", "password": PASSWORD})).json()
    assert (await api.post("/auth/logout", json={"refresh_token": third["refresh_token"]})).status_code == 204
    assert_error(await api.post("/auth/refresh", json={"refresh_token": third["refresh_token"]}), 401)


async def test_sign_up_is_by_invitation_when_disabled(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with run_platform(database_url, nats_server.url, signup_enabled=False) as p:
        api = p.api
        assert_error(await api.post("/auth/signup", json={"email": "walkin@example.com", "password": PASSWORD}), 403)
        admin = {"Authorization": f"Token {await p.bootstrap_token()}"}
        org = (await api.post("/organization", json={"name": "inv", "plan": "FREE"}, headers=admin)).json()["id"]
        invite = (
            await api.post(
                f"/organization/{org}/inviteMember",
                headers=admin,
                json={"email": "new@example.com", "role_id": str(policy.VIEWER)},
            )
        ).json()
        assert invite["invitation_status"] == "PENDING" and invite["role"] == "VIEWER"
        secret = invite["invitation_link"].split("invitation=")[1]
        r = await api.post(
            "/auth/signup", json={"email": "other@example.com", "password": PASSWORD, "invitation_token": secret}
        )
        assert_error(r, 403)  # another address cannot use it
        r = await api.post(
            "/auth/signup", json={"email": "new@example.com", "password": PASSWORD, "invitation_token": secret}
        )
        assert r.status_code == 201
        orgs = (await api.get("/organization", headers=bearer(r.json()["access_token"]))).json()["results"]
        assert [o["id"] for o in orgs] == [org]
        members = (await api.get(f"/organization/{org}/member", headers=admin)).json()["results"]
        assert {m["email"]: m["role_name"] for m in members}["new@example.com"] == "Viewer"


def _forge(header: dict, claims: dict, key: bytes | str, alg: str) -> str:  # type: ignore[type-arg]
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def _b64(data: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256_with(secret: bytes, header: dict, claims: dict) -> str:  # type: ignore[type-arg]
    """The classic key-confusion forgery (PyJWT refuses to build it, so it is built by hand)."""
    import hashlib
    import hmac

    signing_input = f"{_b64(header)}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_jwt_attacks_are_rejected(platform: Platform) -> None:
    api = platform.api
    tokens = await platform.signup("target@example.com")
    good = tokens["access_token"]
    keys = platform.iam_app.state.keys
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    public_pem = (
        serialization.load_pem_private_key(keys.private_pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())

    def signed(**changes) -> str:  # type: ignore[no-untyped-def]
        return _forge({"kid": header["kid"]}, {**claims, **changes}, keys.private_pem, "RS256")

    assert (await api.get("/account", headers=bearer(signed()))).status_code == 200  # control: a proper token
    h, p, s = good.split(".")
    attacks = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{p}.",
        "HS256 with the public key": _hs256_with(
            public_pem, {"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, claims
        ),
        "expired": signed(exp=now - 3600, iat=now - 7200),
        "wrong issuer": signed(iss="https://evil.example"),
        "wrong audience": signed(aud="someone-else"),
        "tampered payload": f"{h}.{_b64({**claims, 'sub': str(uuid.uuid4())})}.{s}",
        "unknown key": _forge({"kid": "nope"}, claims, keys.private_pem, "RS256"),
        "not a jwt": "abc.def",
        "refresh token as bearer": tokens["refresh_token"],
    }
    for name, token in attacks.items():
        r = await api.get("/account", headers=bearer(token))
        assert r.status_code == 401, (name, r.text)
        assert ERROR_KEYS <= r.json().keys()


async def test_websocket_sub_protocol_bearer(platform: Platform) -> None:
    api = platform.api
    owner = await platform.signup("wsowner@example.com")
    stranger = await platform.signup("wsstranger@example.com")
    org = (
        await api.post("/organization", json={"name": "ws", "plan": "FREE"}, headers=bearer(owner["access_token"]))
    ).json()["id"]
    base = platform.url.replace("http://", "ws://") + f"/service/status?organization={org}"

    async def close_code(protocols: list[str]) -> int:
        async with websockets.connect(base, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == "v1"
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    assert await close_code(["v1", "auth.bearer.garbage"]) == 1008
    assert await close_code(["v1", f"auth.bearer.{stranger['access_token']}"]) == 1007  # another organization
    # The owner passes authentication and authorization; the logs service is not built yet (1011 from upstream).
    assert await close_code(["v1", f"auth.bearer.{owner['access_token']}"]) == 1011


async def test_api_token_lifecycle_and_revocation(platform: Platform) -> None:
    api = platform.api
    owner = bearer((await platform.signup("tok@example.com"))["access_token"])
    org = (await api.post("/organization", json={"name": "tok", "plan": "FREE"}, headers=owner)).json()["id"]
    r = await api.post(
        f"/organization/{org}/apiToken",
        headers=owner,
        json={"name": "ci", "description": "pipeline", "role_id": str(policy.DEVOPS)},
    )
    assert r.status_code == 201
    created = r.json()
    secret = created["token"]
    assert secret.startswith("qov_") and created["role_name"] == "DevOps"
    assert_error(
        await api.post(
            f"/organization/{org}/apiToken", headers=owner, json={"name": "ci", "role_id": str(policy.DEVOPS)}
        ),
        409,
    )
    assert_error(
        await api.post(
            f"/organization/{org}/apiToken", headers=owner, json={"name": "x", "role_id": str(uuid.uuid4())}
        ),
        400,
    )
    listed = (await api.get(f"/organization/{org}/apiToken", headers=owner)).json()["results"]
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0] and secret not in json.dumps(listed)
    as_token = {"Authorization": f"Token {secret}"}
    assert (await api.get(f"/organization/{org}", headers=as_token)).status_code == 200
    assert_error(await api.get(f"/organization/{org}/apiToken", headers=as_token), 403)  # DevOps: no tokens
    assert (await api.delete(f"/organization/{org}/apiToken/{created['id']}", headers=owner)).status_code == 204

    async def revoked() -> bool:
        return (await api.get(f"/organization/{org}", headers=as_token)).status_code in (401, 404)

    started = time.monotonic()
    await wait_until(revoked, timeout=10, message="revoked token still works")
    assert time.monotonic() - started < 10


async def test_audit_log_records_mutations(platform: Platform) -> None:
    api = platform.api
    owner = bearer((await platform.signup("aud@example.com"))["access_token"])
    org = (
        await api.post(
            "/organization",
            json={"name": "aud", "plan": "FREE"},
            headers=owner,
        )
    ).json()["id"]
    await api.put(
        f"/organization/{org}", json={"name": "aud2", "plan": "FREE"}, headers={**owner, "User-Agent": "qovery-cli/1.0"}
    )
    viewer = await platform.signup("audviewer@example.com")
    invite = (
        await api.post(
            f"/organization/{org}/inviteMember",
            headers=owner,
            json={"email": "audviewer@example.com", "role_id": str(policy.VIEWER)},
        )
    ).json()
    await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=bearer(viewer["access_token"]))
    denied = await api.delete(f"/organization/{org}", headers=bearer(viewer["access_token"]))
    assert denied.status_code == 403
    assert_error(await api.get(f"/slipway/organization/{org}/auditLog", headers=bearer(viewer["access_token"])), 403)
    entries = (await api.get(f"/slipway/organization/{org}/auditLog", headers=owner)).json()["results"]
    by_action = {e["action"]: e for e in entries}
    edit = by_action["organization.edit"]
    assert edit["result"] == "SUCCESS" and edit["origin"] == "CLI" and edit["actor_kind"] == "user"
    assert edit["resource_type"] == "organization" and edit["resource_id"] == org and edit["method"] == "PUT"
    refused = by_action["organization.delete"]
    assert refused["result"] == "DENIED" and refused["status_code"] == 403
    assert by_action["member.manage"]["result"] == "SUCCESS"
    assert [e["occurred_at"] for e in entries] == sorted((e["occurred_at"] for e in entries), reverse=True)


async def test_audit_is_kept_forever_unless_retention_is_set(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with run_platform(database_url, nats_server.url, audit_retention_days=30) as p:
        async with p.iam_app.state.db.transaction() as s:
            for age in (40, 5):
                await s.execute(
                    text(
                        "INSERT INTO iam.audit_log (id, actor_kind, actor_id, action, method, path, origin,"
                        " status_code, result, occurred_at)"
                        " VALUES (:id, 'user', 'u', 'x', 'POST', '/', 'API', 200, 'SUCCESS',"
                        " now() - make_interval(days => :age))"
                    ),
                    {"id": uuid.uuid4(), "age": age},
                )
        assert await purge_once(p.iam_app, 30) == 1
        async with p.iam_app.state.db.transaction() as s:
            assert (await s.execute(text("SELECT count(*) FROM iam.audit_log"))).scalar_one() == 1


async def test_secrets_never_in_responses_events_or_logs(platform: Platform, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = platform.api
    tokens = await platform.signup("sec@example.com")
    owner = bearer(tokens["access_token"])
    org = (await api.post("/organization", json={"name": "sec", "plan": "FREE"}, headers=owner)).json()["id"]
    created = (
        await api.post(
            f"/organization/{org}/apiToken", headers=owner, json={"name": "t", "role_id": str(policy.VIEWER)}
        )
    ).json()
    secrets = [PASSWORD, created["token"], tokens["refresh_token"]]
    seen = []
    for path in (
        "/organization",
        f"/organization/{org}",
        f"/organization/{org}/apiToken",
        f"/organization/{org}/member",
        "/account",
        f"/slipway/organization/{org}/auditLog",
    ):
        seen.append((await api.get(path, headers=owner)).text)
    await api.get(f"/organization/{org}", headers={"Authorization": f"Token {created['token']}"})
    async with platform.iam_app.state.db.transaction() as s:
        stored = (
            (
                await s.execute(
                    text(
                        "SELECT coalesce(string_agg(data, ' '), '') FROM iam.outbox UNION ALL "
                        "SELECT coalesce(string_agg(t::text, ' '), '') FROM iam.audit_log t UNION ALL "
                        "SELECT coalesce(string_agg(t::text, ' '), '') FROM iam.users t UNION ALL "
                        "SELECT coalesce(string_agg(t::text, ' '), '') FROM iam.api_tokens t UNION ALL "
                        "SELECT coalesce(string_agg(t::text, ' '), '') FROM iam.refresh_tokens t"
                    )
                )
            )
            .scalars()
            .all()
        )
    haystack = "\n".join(seen + list(stored) + [caplog.text])
    assert "evt.iam.organization.created" in haystack  # the scan did see events and logs
    for secret in secrets:
        assert secret not in haystack
