"""The sealed view of an environment: built like the desired state, but no secret is ever decrypted.

`SealedKeyring` stands in for the key ring: each secret reads as a digest of its ciphertext, so the sealed
state says everything a status or an action needs (services, stages, kinds, versions) and its
`spec_digest` changes whenever a secret's stored value does — without a key. A key rotation re-encrypts
every secret, so services show OUT_OF_DATE until their next deploy (the values are unchanged).
"""

from __future__ import annotations

import hashlib
import json

from slipway.crypto import Keyring
from slipway.desired import ServiceSpec, content_version


class SealedKeyring(Keyring):
    """A key ring that decrypts nothing: `decrypt` answers a JSON digest of the ciphertext."""

    def __init__(self) -> None:  # no keys: nothing can be read or written with it
        self.primary_kid = "sealed"
        self._ciphers = {}

    @property
    def key_ids(self) -> list[str]:
        return []

    def encrypt(self, plaintext: str, context: str = "") -> str:
        raise RuntimeError("the sealed view never encrypts")

    def decrypt(self, ciphertext: str, context: str = "") -> str:
        # JSON, so that a sealed registry configuration still parses (as credentials that are absent)
        return json.dumps({"sealed": hashlib.sha256(f"{context}|{ciphertext}".encode()).hexdigest()[:32]})


def sealed_digest(spec: ServiceSpec) -> str:
    """The digest of a service's configuration as the sealed view shows it."""
    return content_version(spec.model_dump(mode="json", exclude={"spec_digest"}))
