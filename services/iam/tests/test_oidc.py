"""OIDC sign-in end to end: a real (test-owned) OpenID provider, iam and the gateway, driven over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select

from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from iam.account.oidc import SignInState, open_state, seal_state
from iam.main import create_app as create_iam
from iam.models import Identity, User
from iam.roles import policy
from iam.settings import IamSettings, OidcProvider
from slipway.errors import BadRequest
from slipway.principal import HEADER, service_principal, sign
from slipway_stack.procs import free_port
from slipway_stack.testing import serve

KEY = "oidc-test-internal-key"
CLIENT_ID = "slipway-client"
CLIENT_SECRET = "s3cret/with:odd chars"
ERROR_KEYS = {"status", "error", "detail"}
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # once per test session: RSA is slow
ROGUE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class MiniProvider:
    """A minimal OpenID provider that auto-approves `user`; each knob makes it misbehave in one way."""

    user: dict[str, Any] = field(
        default_factory=lambda: {"sub": "alice-0001", "email": "Alice@Example.com", "email_verified": True}
    )
    auth_methods: list[str] = field(default_factory=lambda: ["client_secret_basic", "client_secret_post"])
    claim_overrides: dict[str, Any] = field(default_factory=dict)
    signing_key: rsa.RSAPrivateKey = RSA_KEY
    deny: bool = False
    issuer: str = ""
    kid: str = "test-key-1"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_calls: list[str] = field(default_factory=list)  # client authentication method of each /token call

    def app(self) -> FastAPI:
        app = FastAPI()
        app.get("/.well-known/openid-configuration")(self.discovery)
        app.get("/authorize")(self.authorize)
        app.post("/token")(self.token)
        app.get("/jwks")(self.jwks)
        return app

    async def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": self.auth_methods,
            "code_challenge_methods_supported": ["S256"],
        }

    async def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if "openid" not in q.get("scope", "").split() or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if self.deny:
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'error': 'access_denied', 'state': q['state']})}", 302
            )
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "nonce": q["nonce"],
            "user": dict(self.user),
        }
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic ") and "client_secret_basic" in self.auth_methods:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            ok = (unquote(client_id), unquote(secret)) == (CLIENT_ID, CLIENT_SECRET)
            return "client_secret_basic" if ok else None
        if "client_secret" in form and "client_secret_post" in self.auth_methods:
            ok = (form.get("client_id"), form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
            return "client_secret_post" if ok else None
        return None

    async def token(self, request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        method = self._client(request, form)
        if method is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        self.token_calls.append(method)
        grant = self.codes.pop(form.get("code", ""), None)  # one-time codes
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        if _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"]}
        claims |= grant["user"] | self.claim_overrides
        id_token = jwt.encode(claims, _pem(self.signing_key), algorithm="RS256", headers={"kid": self.kid})
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": id_token})


@dataclass
class Env:
    api: httpx.AsyncClient  # talks to the gateway, never follows redirects
    gateway: str
    idp: MiniProvider
    iam_app: FastAPI
    iam_url: str

    async def bootstrap_admin(self, email: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.iam_url) as iam:
            r = await iam.post(
                "/internal/bootstrap", json={"email": email}, headers={HEADER: sign(service_principal("test"), KEY)}
            )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def start(self, provider: str = "corp") -> tuple[str, dict[str, str]]:
        """The gateway's login redirect: (authorization URL, its query)."""
        r = await self.api.get(f"/auth/oidc/{provider}/login")
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    async def authorize(self, authorization_url: str) -> str:
        """The provider's redirect back to Slipway (the callback URL)."""
        async with httpx.AsyncClient(timeout=10) as browser:
            r = await browser.get(authorization_url)
        assert r.status_code == 302, r.text
        return r.headers["location"]

    async def sign_in(self, provider: str = "corp") -> httpx.Response:
        url, _ = await self.start(provider)
        callback = await self.authorize(url)
        assert callback.startswith(f"{self.gateway}/auth/oidc/{provider}/callback?")
        return await self.api.get(callback)

    async def account(self, access_token: str) -> dict[str, Any]:
        r = await self.api.get("/account", headers={"Authorization": f"Bearer {access_token}"})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def users(self) -> int:
        async with self.iam_app.state.db.transaction() as s:
            return int((await s.execute(select(func.count()).select_from(User))).scalar_one())


@asynccontextmanager
async def oidc_env(database_url: str, nats_url: str, *, signup_enabled: bool, **knobs: Any) -> AsyncIterator[Env]:
    idp = MiniProvider(**knobs)
    async with AsyncExitStack() as stack:
        idp.issuer = await stack.enter_async_context(serve(idp.app()))
        gateway_port = free_port()
        gateway = f"http://127.0.0.1:{gateway_port}"
        providers = [
            OidcProvider(name=name, issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
            for name in ("corp", "other")
        ]
        iam_app = create_iam(
            IamSettings(
                database_url=database_url,
                nats_url=nats_url,
                internal_auth_key=KEY,
                public_url=gateway,
                signup_enabled=signup_enabled,
                oidc_providers=providers,
            )
        )
        iam_url = await stack.enter_async_context(serve(iam_app))
        nowhere = f"http://127.0.0.1:{free_port()}"
        gateway_settings = GatewaySettings(
            nats_url=nats_url,
            internal_auth_key=KEY,
            iam_url=iam_url,
            catalog_url=nowhere,
            builder_url=nowhere,
            deployer_url=nowhere,
            logs_url=nowhere,
        )
        await stack.enter_async_context(serve(create_gateway(gateway_settings), gateway_port))
        api = await stack.enter_async_context(httpx.AsyncClient(base_url=gateway, timeout=15, follow_redirects=False))
        yield Env(api, gateway, idp, iam_app, iam_url)


def assert_error(r: httpx.Response, status: int, detail: str = "") -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert ERROR_KEYS <= body.keys() and body["status"] == status, body
    assert detail in body["detail"], body
    return body


async def test_sign_in_with_open_signup_creates_then_reuses_the_account(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=True) as env:
        r = await env.api.get("/auth/oidc")
        assert r.status_code == 200 and r.json() == {"results": [{"name": "corp"}, {"name": "other"}]}

        url, query = await env.start()
        assert url.startswith(f"{env.idp.issuer}/authorize?")
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["redirect_uri"] == f"{env.gateway}/auth/oidc/corp/callback"
        assert query["scope"] == "openid email profile" and query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43 and query["nonce"] and query["state"]
        assert query["nonce"] not in query["state"]  # the state is sealed, not readable

        r = await env.sign_in()
        assert r.status_code == 200, r.text
        tokens = r.json()
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0 and tokens["refresh_token"]
        assert r.headers["cache-control"] == "no-store"
        first = await env.account(tokens["access_token"])
        assert first["communication_email"] == "alice@example.com"
        assert env.idp.token_calls == ["client_secret_basic"]

        # Same subject again, even with a changed email at the provider: the linked account is reused.
        env.idp.user["email"] = "alice.renamed@example.com"
        r = await env.sign_in()
        assert r.status_code == 200, r.text
        second = await env.account(r.json()["access_token"])
        assert second["id"] == first["id"] and second["communication_email"] == "alice@example.com"
        assert await env.users() == 1

        # The refresh token works like one from /auth/login.
        r = await env.api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200 and r.json()["access_token"]


async def test_client_secret_post_when_it_is_the_only_method(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=True, auth_methods=["client_secret_post"]) as env:
        r = await env.sign_in()
        assert r.status_code == 200, r.text
        assert env.idp.token_calls == ["client_secret_post"]


async def test_verified_email_links_an_existing_account_unverified_does_not(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=True) as env:
        existing = await env.bootstrap_admin("alice@example.com")

        env.idp.user["email_verified"] = False
        assert_error(await env.sign_in(), 403, "not verified")

        env.idp.user["email_verified"] = True
        r = await env.sign_in()
        assert r.status_code == 200, r.text
        assert (await env.account(r.json()["access_token"]))["id"] == existing["user_id"]
        assert await env.users() == 1
        async with env.iam_app.state.db.transaction() as s:
            identity = (await s.execute(select(Identity))).scalar_one()
        assert (identity.provider, identity.subject, str(identity.user_id)) == (
            "corp",
            "alice-0001",
            existing["user_id"],
        )


async def test_signup_disabled_without_invitation_is_refused(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=False) as env:
        assert_error(await env.sign_in(), 403, "sign-up is by invitation only on this Slipway")
        assert await env.users() == 0


async def test_signup_disabled_with_a_pending_invitation_joins_the_organization(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=False) as env:
        admin = {"Authorization": f"Token {(await env.bootstrap_admin('admin@example.com'))['token']}"}
        r = await env.api.post("/organization", json={"name": "acme", "plan": "FREE"}, headers=admin)
        assert r.status_code == 201, r.text
        org = r.json()["id"]
        r = await env.api.post(
            f"/organization/{org}/inviteMember",
            json={"email": "alice@example.com", "role_id": str(policy.VIEWER)},
            headers=admin,
        )
        assert r.status_code == 201, r.text

        # An email the provider has not verified cannot claim the invitation.
        env.idp.user["email_verified"] = False
        assert_error(await env.sign_in(), 403, "not verified")
        assert await env.users() == 1

        env.idp.user["email_verified"] = True
        r = await env.sign_in()
        assert r.status_code == 200, r.text
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await env.account(r.json()["access_token"]))["communication_email"] == "alice@example.com"
        r = await env.api.get("/organization", headers=bearer)
        assert r.status_code == 200, r.text
        assert [o["id"] for o in r.json()["results"]] == [org]
        r = await env.api.get(f"/organization/{org}/inviteMember", headers=admin)
        assert r.status_code == 200 and r.json()["results"] == []  # accepted


async def test_bad_state_is_400(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=True) as env:
        url, query = await env.start()
        callback = await env.authorize(url)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        state = query["state"]
        middle = len(state) // 2
        tampered = state[:middle] + ("A" if state[middle] != "A" else "B") + state[middle + 1 :]
        for bad in (tampered, "not-a-state"):
            r = await env.api.get("/auth/oidc/corp/callback", params={"code": code, "state": bad})
            assert_error(r, 400, "invalid or tampered")
        # A state sealed for another provider, and an expired one.
        r = await env.api.get("/auth/oidc/other/callback", params={"code": code, "state": state})
        assert_error(r, 400, "another OIDC provider")
        expired = seal_state(KEY, SignInState("corp", query["nonce"], "v" * 64, int(time.time()) - 1))
        r = await env.api.get("/auth/oidc/corp/callback", params={"code": code, "state": expired})
        assert_error(r, 400, "expired")
        assert_error(await env.api.get("/auth/oidc/corp/callback", params={"code": code}), 400, "required")
        # None of these reached the provider; the untouched state still completes the sign-in.
        assert env.idp.token_calls == []
        r = await env.api.get("/auth/oidc/corp/callback", params={"code": code, "state": state})
        assert r.status_code == 200, r.text
        # The code was one-time: replaying the callback is refused by the provider.
        r = await env.api.get("/auth/oidc/corp/callback", params={"code": code, "state": state})
        assert_error(r, 401, "invalid_grant")


async def test_invalid_id_tokens_and_refusals_are_401(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=True) as env:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"nonce": "not-the-nonce"}, "nonce"),
            ({"aud": "someone-else"}, "aud"),
            ({"aud": ["someone-else", "another"]}, "aud"),
            ({"iss": "http://evil.example"}, "iss"),
            ({"exp": int(time.time()) - 3600}, "expired"),
        ]
        for overrides, detail in cases:
            env.idp.claim_overrides = overrides
            assert_error(await env.sign_in(), 401, detail)
        env.idp.claim_overrides = {}

        env.idp.signing_key = ROGUE_KEY  # right kid, wrong key
        assert_error(await env.sign_in(), 401, "bad signature")
        env.idp.signing_key = RSA_KEY

        env.idp.deny = True
        assert_error(await env.sign_in(), 401, "access_denied")
        env.idp.deny = False
        assert await env.users() == 0

        r = await env.sign_in()  # the same provider, behaving again
        assert r.status_code == 200, r.text
        assert await env.users() == 1

        env.idp.kid = "test-key-2"  # key rotation: iam's cached JWKS lacks this kid and is fetched again
        r = await env.sign_in()
        assert r.status_code == 200, r.text


async def test_unknown_provider_is_404(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    async with oidc_env(database_url, nats_server.url, signup_enabled=True) as env:
        assert_error(await env.api.get("/auth/oidc/nope/login"), 404, "no OIDC provider named 'nope'")
        r = await env.api.get("/auth/oidc/nope/callback", params={"code": "c", "state": "s"})
        assert_error(r, 404, "no OIDC provider named 'nope'")
        assert env.idp.codes == {} and env.idp.token_calls == []


def test_state_is_sealed_and_bound_to_the_internal_key() -> None:
    state = SignInState("corp", "the-nonce", "the-verifier", int(time.time()) + 60)
    sealed = seal_state(KEY, state)
    assert "the-verifier" not in base64.urlsafe_b64decode(sealed + "==").decode(errors="replace")
    assert open_state(KEY, sealed, "corp") == state
    with pytest.raises(BadRequest, match="invalid or tampered"):
        open_state("another-internal-key", sealed, "corp")
