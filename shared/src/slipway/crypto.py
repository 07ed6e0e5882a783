"""Encryption at rest: AES-256-GCM under a rotating key ring (SLIPWAY_ENCRYPTION_KEYS).

Keys are urlsafe-base64 32-byte values, comma-separated; the first one encrypts, every one decrypts.
A ciphertext names its format version and key id, so rotating is: prepend a new key, re-encrypt
what `needs_rotation()` flags (`reencrypt()`), then drop the old key once nothing uses it.

    v1.<kid>.<nonce>.<ciphertext+tag>     (base64url without padding; kid = 8 hex of SHA-256)

The header (`v1.<kid>`) and an optional caller `context` (e.g. "cluster:<id>:kubeconfig") are
authenticated as associated data: a value copied into another row, or edited in any byte, fails
to decrypt instead of yielding the wrong secret.

Exception tree:

    CryptoError
      ├── KeyConfigError (also ValueError)  SLIPWAY_ENCRYPTION_KEYS missing, malformed or duplicated
      └── DecryptionError                   tampered, malformed, or under a key not in the ring
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from pydantic import SecretStr

    from slipway.settings import ServiceSettings

log = logging.getLogger("slipway.crypto")

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
ENV_VAR = "SLIPWAY_ENCRYPTION_KEYS"
# INSECURE: a fixed, published key so tests and a first local run work with no configuration.
# Anyone can decrypt what it protects; `slipway-stack up` generates a real key per installation.
DEV_KEY = "c2xpcHdheS1kZXYtaW5zZWN1cmUta2V5LWNoYW5nZSE="


class CryptoError(Exception):
    """Anything that went wrong encrypting or decrypting."""


class KeyConfigError(CryptoError, ValueError):
    """The configured key ring is unusable."""


class DecryptionError(CryptoError):
    """A ciphertext could not be authenticated and decrypted."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def key_id(key: bytes) -> str:
    """A short, non-secret name for a key (domain-separated hash; reveals nothing about the key)."""
    return hashlib.sha256(b"slipway.encryption-key-id:" + key).hexdigest()[:8]


def generate_key() -> str:
    """A new random key in the form SLIPWAY_ENCRYPTION_KEYS expects."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_keys(value: str) -> list[bytes]:
    """Decode a SLIPWAY_ENCRYPTION_KEYS value; raise KeyConfigError saying what is wrong with it."""
    entries = [part.strip() for part in value.split(",")]
    if not value.strip() or any(not part for part in entries):
        raise KeyConfigError(
            f"{ENV_VAR} is empty or has an empty entry; set it to comma-separated urlsafe-base64 {KEY_BYTES}-byte "
            "keys (make one with: python -c 'import slipway.crypto as c; print(c.generate_key())')"
        )
    keys: list[bytes] = []
    for position, part in enumerate(entries, start=1):
        try:
            key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"{ENV_VAR}: key #{position} is not urlsafe base64") from None
        if len(key) != KEY_BYTES:
            raise KeyConfigError(f"{ENV_VAR}: key #{position} decodes to {len(key)} bytes, not {KEY_BYTES}")
        keys.append(key)
    kids = [key_id(k) for k in keys]
    if len(set(kids)) != len(kids):
        raise KeyConfigError(f"{ENV_VAR} lists the same key twice")
    return keys


def _aad(header: str, context: str) -> bytes:
    return f"{header}|{context}".encode()


class Keyring:
    """The encryption keys of a process: the first encrypts, all decrypt."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyConfigError(f"{ENV_VAR} holds no key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise KeyConfigError(f"an encryption key must be {KEY_BYTES} bytes, not {len(key)}")
        self._ciphers = {key_id(k): AESGCM(bytes(k)) for k in keys}
        if len(self._ciphers) != len(keys):
            raise KeyConfigError(f"{ENV_VAR} lists the same key twice")
        self.primary_kid = key_id(keys[0])

    @classmethod
    def from_value(cls, value: str) -> Keyring:
        return cls(parse_keys(value))

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    @property
    def uses_dev_key(self) -> bool:
        return key_id(base64.urlsafe_b64decode(DEV_KEY)) in self._ciphers

    def encrypt(self, plaintext: str, context: str = "") -> str:
        header = f"{VERSION}.{self.primary_kid}"
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.primary_kid].encrypt(nonce, plaintext.encode(), _aad(header, context))
        return f"{header}.{_b64(nonce)}.{_b64(sealed)}"

    def decrypt(self, ciphertext: str, context: str = "") -> str:
        kid, nonce, sealed = self._split(ciphertext)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"value was encrypted under key {kid}, which is not in {ENV_VAR} (known: {', '.join(self._ciphers)})"
            )
        try:
            plaintext = cipher.decrypt(nonce, sealed, _aad(f"{VERSION}.{kid}", context))
        except InvalidTag:
            raise DecryptionError(
                f"value under key {kid} failed authentication: it was altered, or belongs to another record"
            ) from None
        try:
            return plaintext.decode()
        except UnicodeDecodeError:  # pragma: no cover - authenticated data we encrypted is always UTF-8
            raise DecryptionError("decrypted value is not UTF-8") from None

    def needs_rotation(self, ciphertext: str) -> bool:
        """True when the value is not under the current (first) key."""
        kid, _, _ = self._split(ciphertext)
        return kid != self.primary_kid

    def reencrypt(self, ciphertext: str, context: str = "") -> str:
        """The same plaintext under the current key (unchanged if it already is)."""
        if not self.needs_rotation(ciphertext):
            return ciphertext
        return self.encrypt(self.decrypt(ciphertext, context), context)

    @staticmethod
    def _split(ciphertext: str) -> tuple[str, bytes, bytes]:
        parts = ciphertext.split(".") if isinstance(ciphertext, str) else []
        if len(parts) != 4 or parts[0] != VERSION:
            raise DecryptionError(f"not a Slipway ciphertext (expected {VERSION}.<kid>.<nonce>.<data>)")
        _, kid, nonce_text, sealed_text = parts
        try:
            nonce, sealed = _unb64(nonce_text), _unb64(sealed_text)
        except (binascii.Error, ValueError):
            raise DecryptionError("ciphertext is not valid base64url") from None
        if len(nonce) != NONCE_BYTES or len(sealed) < 16:
            raise DecryptionError("ciphertext is truncated")
        return kid, nonce, sealed


@lru_cache(maxsize=8)
def _keyring(value: str) -> Keyring:
    ring = Keyring.from_value(value)
    if ring.uses_dev_key:
        log.warning("encryption at rest uses the published development key; set %s for real data", ENV_VAR)
    return ring


def keyring(keys: SecretStr | str) -> Keyring:
    """The (cached) key ring for a settings value, e.g. `keyring(settings.encryption_keys)`."""
    value = keys if isinstance(keys, str) else keys.get_secret_value()
    return _keyring(value)


def keyring_from(settings: ServiceSettings) -> Keyring:
    return keyring(settings.encryption_keys)


def default_keyring() -> Keyring:
    """The process's key ring from its environment (through the settings class, like every setting)."""
    from slipway.settings import ServiceSettings

    return keyring_from(ServiceSettings())


def encrypt(plaintext: str, context: str = "") -> str:
    return default_keyring().encrypt(plaintext, context)


def decrypt(ciphertext: str, context: str = "") -> str:
    return default_keyring().decrypt(ciphertext, context)


def needs_rotation(ciphertext: str) -> bool:
    return default_keyring().needs_rotation(ciphertext)


def reencrypt(ciphertext: str, context: str = "") -> str:
    return default_keyring().reencrypt(ciphertext, context)
