"""Encryption at rest: round trip, key rotation, tamper detection, and key-ring configuration errors."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr, ValidationError

from slipway import crypto
from slipway.crypto import DecryptionError, KeyConfigError, Keyring
from slipway.settings import ServiceSettings

SECRET = "ghp_s3cr3t-token-value é ✓"


def ring(*keys: str) -> Keyring:
    return Keyring.from_value(",".join(keys))


def test_round_trip_and_no_plaintext_in_output() -> None:
    key = crypto.generate_key()
    ciphertext = ring(key).encrypt(SECRET)
    assert ring(key).decrypt(ciphertext) == SECRET
    version, kid, nonce, body = ciphertext.split(".")
    assert version == "v1" and kid == ring(key).primary_kid and len(kid) == 8
    assert "s3cr3t" not in ciphertext and "ghp_" not in ciphertext
    assert SECRET.encode() not in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    # a fresh nonce each time: the same plaintext never encrypts to the same text twice
    assert ring(key).encrypt(SECRET) != ciphertext
    assert ring(key).decrypt(ring(key).encrypt("")) == ""


def test_rotation_old_values_decrypt_and_reencrypt_under_the_new_key() -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    before = ring(old).encrypt(SECRET, "cluster:1")
    rotated_ring = ring(new, old)  # the new key is prepended: it encrypts, the old one still decrypts
    assert rotated_ring.decrypt(before, "cluster:1") == SECRET
    assert rotated_ring.needs_rotation(before)
    after = rotated_ring.reencrypt(before, "cluster:1")
    assert after.split(".")[1] == ring(new).primary_kid != before.split(".")[1]
    assert not rotated_ring.needs_rotation(after)
    assert rotated_ring.reencrypt(after, "cluster:1") == after  # nothing to do
    assert ring(new).decrypt(after, "cluster:1") == SECRET  # the old key can now be dropped
    with pytest.raises(DecryptionError, match="not in SLIPWAY_ENCRYPTION_KEYS"):
        ring(new).decrypt(before, "cluster:1")


@pytest.mark.parametrize("part", [1, 2, 3])
def test_any_altered_byte_is_detected(part: int) -> None:
    keys = ring(crypto.generate_key())
    pieces = keys.encrypt(SECRET).split(".")
    raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)) or b"x")
    raw[len(raw) // 2] ^= 0x01
    pieces[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(DecryptionError):
        keys.decrypt(".".join(pieces))


def test_context_binds_a_value_to_its_record() -> None:
    keys = ring(crypto.generate_key())
    ciphertext = keys.encrypt(SECRET, "git_token:a")
    with pytest.raises(DecryptionError, match="altered, or belongs to another record"):
        keys.decrypt(ciphertext, "git_token:b")


@pytest.mark.parametrize("garbage", ["", "plain text", "v2.abcd.AAAA.AAAA", "v1.abcd.%%%.AAAA", "v1.abcd.AAAA"])
def test_malformed_ciphertext_is_a_clear_error(garbage: str) -> None:
    with pytest.raises(DecryptionError):
        ring(crypto.generate_key()).decrypt(garbage)


def test_wrong_key_set_is_an_error() -> None:
    ciphertext = ring(crypto.generate_key()).encrypt(SECRET)
    with pytest.raises(DecryptionError, match="which is not in SLIPWAY_ENCRYPTION_KEYS"):
        ring(crypto.generate_key(), crypto.generate_key()).decrypt(ciphertext)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("a2V5,", "empty entry"),
        ("not base64!", "not urlsafe base64"),
        (base64.urlsafe_b64encode(b"short").decode(), "decodes to 5 bytes"),
    ],
)
def test_invalid_key_configuration_is_rejected(value: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        Keyring.from_value(value)


def test_duplicate_keys_are_rejected() -> None:
    key = crypto.generate_key()
    with pytest.raises(KeyConfigError, match="same key twice"):
        Keyring.from_value(f"{key},{key}")


def test_settings_read_validate_and_never_print_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    key = crypto.generate_key()
    monkeypatch.setenv("SLIPWAY_ENCRYPTION_KEYS", key)
    settings = ServiceSettings()
    assert crypto.keyring_from(settings).primary_kid == crypto.key_id(base64.urlsafe_b64decode(key))
    assert key not in repr(settings)
    monkeypatch.setenv("SLIPWAY_ENCRYPTION_KEYS", "too-short")
    with pytest.raises(ValidationError, match="SLIPWAY_ENCRYPTION_KEYS") as error:
        ServiceSettings()
    assert "too-short" not in str(error.value)
    monkeypatch.delenv("SLIPWAY_ENCRYPTION_KEYS")
    default = crypto.keyring(ServiceSettings().encryption_keys)
    assert default.uses_dev_key  # the published development key: only for tests and first local runs
    assert not crypto.keyring(SecretStr(key)).uses_dev_key


def test_module_functions_use_the_process_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    monkeypatch.setenv("SLIPWAY_ENCRYPTION_KEYS", old)
    ciphertext = crypto.encrypt(SECRET)
    assert crypto.decrypt(ciphertext) == SECRET and not crypto.needs_rotation(ciphertext)
    monkeypatch.setenv("SLIPWAY_ENCRYPTION_KEYS", f"{new},{old}")
    assert crypto.needs_rotation(ciphertext)
    assert crypto.decrypt(crypto.reencrypt(ciphertext)) == SECRET
