"""Structured logs are JSON lines and never carry credentials."""

from __future__ import annotations

import json
import logging

from slipway.jsonlog import JsonFormatter, mask_secrets


def test_masks_tokens_passwords_and_urls() -> None:
    text = (
        "Authorization: Token qov_AbCdEfGhIjKlMnOpQrStUv password=hunter2 "
        "postgresql://postgres:s3cr3t@127.0.0.1/db Bearer eyJhbGciOi.eyJzdWIiOi.sig"
    )
    masked = mask_secrets(text)
    for secret in ("qov_AbCdEfGhIjKlMnOpQrStUv", "hunter2", "s3cr3t", "eyJzdWIiOi"):
        assert secret not in masked


def test_json_line_with_extra_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s done", ("qov_zzzzzzzzzzzz",), None)
    record.deployment_id = "d-1"
    line = JsonFormatter("svc").format(record)
    entry = json.loads(line)
    assert entry["service"] == "svc" and entry["level"] == "info" and entry["deployment_id"] == "d-1"
    assert "qov_zzzzzzzzzzzz" not in line


def test_masking_never_breaks_the_json_line() -> None:
    # the shape a fuzzed request produced in CI: quotes and backslashes right after secret-like keys
    messages = [
        '127.0.0.1 - "GET /x?is_secret="&is_secret= "&password=\\"a\\" HTTP/1.1" 400',
        'token=\'\\\\\' secret:"\\" passwd=\\ api_key="',
        'Authorization: Bearer "\\"x',
        'https://user:p\\"w@host/ path',
    ]
    for message in messages:
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s", (message,), None)
        record.detail = {"password": "hunter2", "note": message}
        entry = json.loads(JsonFormatter("svc").format(record))
        assert entry["logger"] == "uvicorn.access"
        assert "hunter2" not in json.dumps(entry)
