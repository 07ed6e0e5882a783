"""Authenticate public callers: `Token <api-token>` introspected at iam (cached briefly), `Bearer <jwt>` via JWKS."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

import httpx

from gateway.jwks import JwksVerifier
from slipway.errors import ServiceUnavailable, Unauthorized
from slipway.principal import HEADER, Principal, service_principal, sign

_MAX_CACHE = 10_000


class Authenticator:
    def __init__(
        self, http: httpx.AsyncClient, iam_url: str, key: str, cache_seconds: float, jwks: JwksVerifier
    ) -> None:
        self.http = http
        self.jwks = jwks
        self.iam_url = iam_url
        self.key = key
        self.cache_seconds = cache_seconds
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("missing credentials: send 'Authorization: Token <api-token>' or 'Bearer <jwt>'")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if not credential:
            raise Unauthorized("malformed Authorization header")
        if scheme.lower() == "token":
            return await self._api_token(credential)
        if scheme.lower() == "bearer":
            return await self.jwks.verify(credential)
        raise Unauthorized(f"unsupported authorization scheme '{scheme}'")

    async def _api_token(self, secret: str) -> Principal:
        now = time.monotonic()
        key = hashlib.sha256(secret.encode()).hexdigest()  # never keep secrets around in clear
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await self.http.post(
                f"{self.iam_url}/internal/introspect",
                json={"token": secret},
                headers={HEADER: sign(service_principal("api-gateway"), self.key)},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"identity service unreachable: {type(exc).__name__}") from None
        if response.status_code in (400, 401, 404):
            self._cache.pop(key, None)
            raise Unauthorized("invalid or revoked API token")
        if response.status_code != 200:
            raise ServiceUnavailable(f"identity service answered {response.status_code}")
        principal = Principal.model_validate(response.json())
        self._cache[key] = (now + self.cache_seconds, principal)
        while len(self._cache) > _MAX_CACHE:
            self._cache.popitem(last=False)
        return principal
