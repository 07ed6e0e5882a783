"""RS256 signing keys kept in the database (private part encrypted), the JWKS, and access-token issuing."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from iam.models import SigningKey, User


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"signing-keys:{secret}".encode()).digest()))


@dataclass
class KeyRing:
    kid: str
    private_pem: bytes
    jwks: dict[str, Any]
    issuer: str
    audience: str
    ttl: int

    def issue(self, user: User) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user.id),
            "email": user.email,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        return jwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid}), self.ttl


async def load_or_create(session: AsyncSession, secret: str, issuer: str, audience: str, ttl: int) -> KeyRing:
    """The newest active key signs; every active key is published in the JWKS (rotation-friendly)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('iam-signing-keys'))"))
    keys = list(
        (
            await session.execute(
                select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
            )
        ).scalars()
    )
    if not keys:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        kid = uuid.uuid4().hex
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        key = SigningKey(kid=kid, private_pem_encrypted=_fernet(secret).encrypt(pem).decode(), public_jwk=jwk)
        session.add(key)
        await session.flush()
        keys = [key]
    newest = keys[0]
    return KeyRing(
        kid=newest.kid,
        private_pem=_fernet(secret).decrypt(newest.private_pem_encrypted.encode()),
        jwks={"keys": [k.public_jwk for k in keys]},
        issuer=issuer,
        audience=audience,
        ttl=ttl,
    )
