"""Verify iam's RS256 access tokens locally against its JWKS (refetched when an unknown key id appears)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt

from slipway.errors import ServiceUnavailable, Unauthorized
from slipway.principal import Principal


class JwksVerifier:
    def __init__(self, http: httpx.AsyncClient, jwks_url: str, issuer: str, audience: str) -> None:
        self.http = http
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            if not force and self._keys:
                return
            if force and time.monotonic() - self._fetched_at < 5:
                return  # an unknown kid must not let callers hammer iam
            try:
                response = await self.http.get(self.jwks_url, timeout=5)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(f"identity keys unavailable ({type(exc).__name__})") from None
            self._keys = {k["kid"]: jwt.PyJWK(k) for k in response.json().get("keys", []) if "kid" in k}
            self._fetched_at = time.monotonic()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed bearer token") from None
        if header.get("alg") != "RS256":
            raise Unauthorized("unsupported token algorithm")
        kid = header.get("kid")
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(str(kid))
        if key is None:
            raise Unauthorized("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=10,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid bearer token") from None
        if claims.get("typ") != "access":
            raise Unauthorized("not an access token")
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise Unauthorized("invalid bearer token") from None
        return Principal(kind="user", subject=str(user_id), user_id=user_id)
