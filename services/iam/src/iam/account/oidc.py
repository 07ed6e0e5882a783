"""OpenID Connect sign-in (authorization code + PKCE + nonce) with any standard provider; `state` is stateless."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.common.urls import add_params_to_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Request, Response
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse

from iam.account import service
from iam.account.endpoints import TokenResponse, _keys, _settings, _tokens
from iam.members.service import accept_invitation
from iam.models import Identity, Invitation, User
from iam.settings import IamSettings, OidcProvider
from slipway.db import SessionDep
from slipway.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from slipway.timeutil import utcnow

router = APIRouter()
log = logging.getLogger("iam.oidc")

STATE_TTL_SECONDS = 600
HTTP_TIMEOUT_SECONDS = 10.0
ID_TOKEN_LEEWAY_SECONDS = 60
# Asymmetric algorithms only: never "none", never HS* (the client secret is not a signing key here).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class OidcProviderInfo(BaseModel):
    name: str


class OidcProviderList(BaseModel):
    results: list[OidcProviderInfo]


@dataclass
class SignInState:
    provider: str
    nonce: str
    code_verifier: str
    expires_at: int


@dataclass
class _Discovered:
    metadata: dict[str, Any]
    jwks: dict[str, Any] | None = None


# -- configuration --------------------------------------------------------------------------------------
def _provider(settings: IamSettings, name: str) -> OidcProvider:
    for provider in settings.oidc_providers:
        if provider.name == name:
            return provider
    raise NotFound(f"no OIDC provider named '{name}' is configured")


def redirect_uri(settings: IamSettings, name: str) -> str:
    return f"{settings.public_url.rstrip('/')}/auth/oidc/{name}/callback"


# -- stateless `state` ------------------------------------------------------------------------------------
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"oidc-state:{secret}".encode()).digest()))


def seal_state(secret: str, state: SignInState) -> str:
    payload = {"p": state.provider, "n": state.nonce, "v": state.code_verifier, "e": state.expires_at}
    return _fernet(secret).encrypt(json.dumps(payload).encode()).decode()


def open_state(secret: str, token: str, provider: str) -> SignInState:
    try:
        payload = json.loads(_fernet(secret).decrypt(token.encode()))
        state = SignInState(str(payload["p"]), str(payload["n"]), str(payload["v"]), int(payload["e"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        raise BadRequest("state: invalid or tampered OIDC state; start the sign-in again") from None
    if state.expires_at <= int(time.time()):
        raise BadRequest("state: the sign-in attempt expired; start it again")
    if state.provider != provider:
        raise BadRequest("state: this sign-in was started with another OIDC provider")
    return state


# -- provider metadata (discovery document and JWKS, cached per provider) -------------------------------
def _cache(request: Request) -> dict[str, _Discovered]:
    cache: dict[str, _Discovered] | None = getattr(request.app.state, "oidc_discovery", None)
    if cache is None:
        cache = request.app.state.oidc_discovery = {}
    return cache


async def _get_json(http: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailable(f"cannot fetch the {what} ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise ServiceUnavailable(f"the {what} is not a JSON object")
    return body


async def _discover(request: Request, provider: OidcProvider) -> _Discovered:
    cache = _cache(request)
    found = cache.get(provider.name)
    if found is not None:
        return found
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    metadata = await _get_json(request.app.state.http, url, f"discovery document of OIDC provider '{provider.name}'")
    if metadata.get("issuer") != provider.issuer:
        raise ServiceUnavailable(f"OIDC provider '{provider.name}' announces another issuer than the configured one")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise ServiceUnavailable(f"OIDC provider '{provider.name}' has no {key} in its discovery document")
    found = cache[provider.name] = _Discovered(metadata)
    return found


async def _jwks(request: Request, provider: OidcProvider, discovered: _Discovered, refresh: bool) -> KeySet:
    if discovered.jwks is None or refresh:
        what = f"JWKS of OIDC provider '{provider.name}'"
        discovered.jwks = await _get_json(request.app.state.http, discovered.metadata["jwks_uri"], what)
    try:
        return KeySet.import_key_set(discovered.jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError):
        raise ServiceUnavailable(f"the JWKS of OIDC provider '{provider.name}' cannot be read") from None


# -- code exchange and id_token validation ------------------------------------------------------------
def _client_auth(provider: OidcProvider, metadata: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """client_secret_basic unless the provider only supports client_secret_post (headers, extra form fields)."""
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" not in methods and "client_secret_post" in methods:
        return {}, {"client_id": provider.client_id, "client_secret": provider.client_secret}
    pair = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _exchange_code(
    request: Request, provider: OidcProvider, metadata: dict[str, Any], code: str, verifier: str
) -> dict[str, Any]:
    headers, form = _client_auth(provider, metadata)
    form |= {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(_settings(request), provider.name),
        "code_verifier": verifier,
    }
    http: httpx.AsyncClient = request.app.state.http
    try:
        response = await http.post(
            metadata["token_endpoint"],
            data=form,
            headers={**headers, "Accept": "application/json"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"OIDC provider '{provider.name}' token endpoint failed ({type(exc).__name__})"
        ) from None
    body = _json_object(response)
    if response.status_code != 200 or body is None:
        error = (body or {}).get("error", response.status_code)
        raise Unauthorized(f"OIDC provider '{provider.name}' refused the authorization code ({str(error)[:64]})")
    if not isinstance(body.get("id_token"), str):
        raise Unauthorized(f"OIDC provider '{provider.name}' returned no id_token")
    return body


def _signing_algorithms(metadata: dict[str, Any]) -> list[str]:
    announced = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    return [alg for alg in SIGNING_ALGORITHMS if alg in announced]


def _rejected(provider: OidcProvider, exc: JoseError) -> Unauthorized:
    reason = exc.description or exc.error.replace("_", " ")
    return Unauthorized(f"the id_token from OIDC provider '{provider.name}' was rejected: {reason}")


async def _verify_id_token(
    request: Request, provider: OidcProvider, discovered: _Discovered, tokens: dict[str, Any], nonce: str
) -> dict[str, Any]:
    """Signature against the provider's JWKS (refetched once for an unknown kid), then iss, aud, exp, nonce."""
    registry = JWSRegistry(algorithms=_signing_algorithms(discovered.metadata), strict_check_header=False)
    try:
        try:
            token = jwt.decode(tokens["id_token"], await _jwks(request, provider, discovered, False), registry=registry)
        except InvalidKeyIdError:  # the provider may have rotated its keys
            token = jwt.decode(tokens["id_token"], await _jwks(request, provider, discovered, True), registry=registry)
        options = {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": provider.client_id},
            "sub": {"essential": True},
        }
        params = {"nonce": nonce, "client_id": provider.client_id, "access_token": tokens.get("access_token")}
        claims = CodeIDToken(token.claims, token.header, options, params)
        claims.validate(leeway=ID_TOKEN_LEEWAY_SECONDS)
    except JoseError as exc:
        raise _rejected(provider, exc) from None
    except (ValueError, TypeError):
        raise Unauthorized(f"the id_token from OIDC provider '{provider.name}' is malformed") from None
    return dict(claims)


# -- mapping to a Slipway user ----------------------------------------------------------------------------
def _email(claims: dict[str, Any]) -> tuple[str, bool]:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise Unauthorized("the id_token carries no usable email; the provider must grant the 'email' scope")
    return email.lower(), claims.get("email_verified") in (True, "true")


def _name(claims: dict[str, Any], key: str) -> str | None:
    value = claims.get(key)
    return value[:255] if isinstance(value, str) and value else None


async def _pending_invitations(session: AsyncSession, email: str) -> list[Invitation]:
    rows = await session.execute(
        select(Invitation).where(
            Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.expires_at > utcnow()
        )
    )
    return list(rows.scalars())


async def _linked_user(session: AsyncSession, provider: str, subject: str) -> User | None:
    identity = (
        await session.execute(select(Identity).where(Identity.provider == provider, Identity.subject == subject))
    ).scalar_one_or_none()
    return None if identity is None else await session.get(User, identity.user_id)


async def _new_user(
    session: AsyncSession, settings: IamSettings, email: str, verified: bool, claims: dict[str, Any]
) -> User:
    """Open sign-up, or a pending invitation; an invitation is honoured only for a provider-verified email."""
    pending = await _pending_invitations(session, email)
    if pending and not verified and not settings.signup_enabled:
        raise Forbidden("an invitation is pending for this email, but the OIDC provider has not verified it")
    invitations = pending if verified else []
    if not invitations and not settings.signup_enabled:
        raise Forbidden("sign-up is by invitation only on this Slipway")
    user = await service.create_user(
        session, email, first_name=_name(claims, "given_name"), last_name=_name(claims, "family_name")
    )
    for invitation in invitations:
        await accept_invitation(session, invitation, user)
    return user


async def user_for(session: AsyncSession, settings: IamSettings, provider: str, claims: dict[str, Any]) -> User:
    """The linked user, else the account with the same verified email (linked now), else a new account."""
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise Unauthorized("the id_token has an unusable 'sub'")
    user = await _linked_user(session, provider, subject)
    if user is not None:
        return user
    email, verified = _email(claims)
    user = await service.user_by_email(session, email)
    if user is not None and not verified:
        raise Forbidden("an account with this email exists, and the OIDC provider has not verified the address")
    if user is None:
        user = await _new_user(session, settings, email, verified, claims)
    session.add(Identity(id=uuid.uuid4(), user_id=user.id, provider=provider, subject=subject))
    await session.flush()
    log.info("linked OIDC identity of provider %s to user %s", provider, user.id)
    return user


# -- endpoints ---------------------------------------------------------------------------------------------
@router.get("/auth/oidc", response_model=OidcProviderList)
async def list_providers(request: Request) -> OidcProviderList:
    return OidcProviderList(results=[OidcProviderInfo(name=p.name) for p in _settings(request).oidc_providers])


@router.get("/auth/oidc/{name}/login", status_code=302)
async def login(name: str, request: Request) -> RedirectResponse:
    settings = _settings(request)
    provider = _provider(settings, name)
    discovered = await _discover(request, provider)
    state = SignInState(name, generate_token(32), generate_token(64), int(time.time()) + STATE_TTL_SECONDS)
    url = add_params_to_uri(
        discovered.metadata["authorization_endpoint"],
        [
            ("response_type", "code"),
            ("client_id", provider.client_id),
            ("redirect_uri", redirect_uri(settings, name)),
            ("scope", provider.scope),
            ("state", seal_state(settings.internal_auth_key.get_secret_value(), state)),
            ("nonce", state.nonce),
            ("code_challenge", create_s256_code_challenge(state.code_verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/auth/oidc/{name}/callback", response_model=TokenResponse)
async def callback(
    name: str,
    request: Request,
    response: Response,
    session: SessionDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> TokenResponse:
    settings = _settings(request)
    provider = _provider(settings, name)
    if error is not None:
        raise Unauthorized(f"OIDC provider '{name}' did not sign you in ({error[:64]})")
    if not code or not state:
        raise BadRequest("code and state are required")
    sign_in = open_state(settings.internal_auth_key.get_secret_value(), state, name)
    discovered = await _discover(request, provider)
    tokens = await _exchange_code(request, provider, discovered.metadata, code, sign_in.code_verifier)
    claims = await _verify_id_token(request, provider, discovered, tokens, sign_in.nonce)
    user = await user_for(session, settings, name, claims)
    response.headers["Cache-Control"] = "no-store"
    return _tokens(await service.open_session(session, settings, _keys(request), user))
