"""Token secrets: `qov_` prefix (so Qovery's CLI sends them as `Token`), stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "qov_"


def new_secret() -> str:
    # 40 alphanumeric characters (~238 bits); `_` after the prefix fails the CLI's base64 test.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return PREFIX + "".join(secrets.choice(alphabet) for _ in range(40))


def hash_secret(secret: str) -> str:
    """High-entropy secrets need no slow hash: SHA-256 makes lookups O(1) and leaks nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[: len(PREFIX) + 4]
