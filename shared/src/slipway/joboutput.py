"""Job outputs: what a job's run writes to /qovery-output/qovery-output.json, read by the deployer, kept by catalog."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

OUTPUT_DIR = "/qovery-output"
OUTPUT_FILE = f"{OUTPUT_DIR}/qovery-output.json"
MAX_FILE_BYTES = 256 * 1024
MAX_KEYS = 100
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def output_head(job_id: str) -> str:
    """`Z037C9E87` for a job whose id starts with 037c9e87: its outputs are QOVERY_OUTPUT_JOB_Z037C9E87_<KEY>."""
    return "Z" + job_id.replace("-", "")[:8].upper()


class OutputValue(BaseModel):
    value: str = Field(max_length=64 * 1024)
    sensitive: bool = False


class OutputError(ValueError):
    """The output file is not what Qovery documents: the message says what is wrong."""


def parse(raw: bytes) -> dict[str, OutputValue]:
    """`{"KEY": {"value": "…", "sensitive": true|false}, …}` → outputs by upper-cased key (as their variables are
    named); anything else raises OutputError naming the problem (never the values)."""
    if len(raw) > MAX_FILE_BYTES:
        raise OutputError(f"{OUTPUT_FILE} is {len(raw)} bytes: at most {MAX_FILE_BYTES}")
    try:
        document: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"{OUTPUT_FILE} is not valid JSON ({exc.__class__.__name__}: {_where(exc)})") from None
    return check(document)


def check(document: Any) -> dict[str, OutputValue]:
    if not isinstance(document, dict):
        raise OutputError(f'{OUTPUT_FILE} must be an object {{"KEY": {{"value": "…", "sensitive": false}}}}')
    if len(document) > MAX_KEYS:
        raise OutputError(f"{OUTPUT_FILE} has {len(document)} keys: at most {MAX_KEYS}")
    out: dict[str, OutputValue] = {}
    for key, entry in document.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise OutputError(f"{OUTPUT_FILE}: key {str(key)[:40]!r} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)")
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise OutputError(f'{OUTPUT_FILE}: {key} must be {{"value": "<string>", "sensitive": true|false}}')
        if not isinstance(entry.get("sensitive", False), bool):
            raise OutputError(f"{OUTPUT_FILE}: {key}.sensitive must be true or false")
        try:
            value = OutputValue(value=entry["value"], sensitive=entry.get("sensitive", False))
        except ValueError:
            raise OutputError(f"{OUTPUT_FILE}: {key}.value is longer than 65536 characters") from None
        if key.upper() in out:
            raise OutputError(f"{OUTPUT_FILE}: {key} appears twice (keys are upper-cased)")
        out[key.upper()] = value
    return out


def _where(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}"
    return "not UTF-8"
