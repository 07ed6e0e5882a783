"""One check of decoded JSON text for what PostgreSQL and UTF-8 cannot store (NUL, lone surrogates) and for depth."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters (\\u0000) are not allowed"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "lone surrogate characters (\\ud800-\\udfff) are not valid Unicode text"
    return None


def problem(data: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """`<field path>: <why>` for the first unusable value of a decoded JSON document, or None.

    Iterative (any depth of input is safe); keys are checked like values."""
    stack: list[tuple[str, Any, int]] = [("", data, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            why = _text_problem(value)
            if why:
                return f"{path or 'body'}: {why}"
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            return f"{path or 'body'}: nested deeper than {max_depth} levels"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (why := _text_problem(key)):
                return f"{path or 'body'}: a key: {why}"
            stack.append((name, item, depth + 1))
    return None


def loads_checked(body: bytes | str) -> tuple[Any, str | None]:
    """Decode a JSON body: (value, None), or (None, why it cannot be used) — malformed, too deep or bad text."""
    try:
        data = json.loads(body)
    except RecursionError:
        return None, f"malformed JSON body: nested deeper than {MAX_DEPTH} levels"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"malformed JSON body: {exc}"
    return data, problem(data)
