"""The job output file's grammar: what Qovery documents is accepted, anything else is refused with its reason."""

from __future__ import annotations

import json

import pytest

from slipway.joboutput import MAX_FILE_BYTES, OutputError, output_head, parse


def test_a_documented_file_gives_upper_cased_keys() -> None:
    raw = json.dumps({"db_url": {"value": "postgres://x", "sensitive": True}, "COUNT": {"value": "3"}}).encode()
    out = parse(raw)
    assert set(out) == {"DB_URL", "COUNT"}
    assert (out["DB_URL"].value, out["DB_URL"].sensitive) == ("postgres://x", True)
    assert (out["COUNT"].value, out["COUNT"].sensitive) == ("3", False)
    assert parse(b"{}") == {}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON (JSONDecodeError: line 1, column 2)"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "must be an object"),
        (b'{"A": 1}', 'A must be {"value": "<string>"'),
        (b'{"A": {"value": 1}}', 'A must be {"value": "<string>"'),
        (b'{"A": {"value": "x", "sensitive": "yes"}}', "A.sensitive must be true or false"),
        (b'{"9LIVES": {"value": "x"}}', "is not a variable name"),
        (b'{"A-B": {"value": "x"}}', "is not a variable name"),
        (b'{"a": {"value": "x"}, "A": {"value": "y"}}', "A appears twice"),
        (json.dumps({"A": {"value": "x" * 70_000}}).encode(), "longer than 65536"),
        (b" " * (MAX_FILE_BYTES + 1), "at most"),
    ],
)
def test_anything_else_is_refused_naming_the_problem(raw: bytes, reason: str) -> None:
    with pytest.raises(OutputError) as caught:
        parse(raw)
    assert reason in str(caught.value)
    assert "/qovery-output/qovery-output.json" in str(caught.value)


def test_a_value_never_appears_in_the_error() -> None:
    with pytest.raises(OutputError) as caught:
        parse(b'{"A": {"value": "hunter2", "sensitive": "maybe"}}')
    assert "hunter2" not in str(caught.value)


def test_the_variable_head_is_the_job_short_id() -> None:
    assert output_head("037c9e87-1111-2222-3333-444455556666") == "Z037C9E87"
