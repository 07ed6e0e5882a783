"""Structured JSON logs with trace ids, and masking of anything that looks like a credential."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from opentelemetry import trace

_SECRET_PATTERNS = [
    (re.compile(r"qov_[A-Za-z0-9_\-]{8,}"), "qov_***"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|token)\s+[^\s\"',]+"), r"\1\2 ***"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-_=]+\.[A-Za-z0-9\-_=]+\.?[A-Za-z0-9\-_.+/=]*"), r"\1 ***"),
    (re.compile(r"(?i)((?:password|passwd|secret|api_key|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+"), r"\1***"),
    (re.compile(r"(://[^:/\s@]+:)[^@/\s]+@"), r"\1***@"),
    # OAuth/OIDC redirects and invitation links carry one-time secrets in their query strings
    (re.compile(r"([?&](?:code|state|invitation|refresh_token|access_token)=)[^&\s\"']+"), r"\1***"),
]


_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|api_key|token|authorization")


def mask_secrets(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": mask_secrets(record.getMessage()),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _masked(value)
        if record.exc_info:
            entry["exc"] = mask_secrets(self.formatException(record.exc_info))
        # values are masked before serialising: masking the JSON text could cut an escape in two
        return json.dumps(entry, default=lambda value: mask_secrets(str(value)))


def _masked(value: object) -> object:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {key: "***" if _SECRET_KEY.search(str(key)) else _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("nats").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
