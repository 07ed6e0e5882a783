"""Test helper: check a response against Qovery's reference spec (status code, schema, RFC 3339 times).

The reference lives beside the project (`../shared/qovery-api/`), never inside it. CI always has
it; on a user's clone without it the conformance tests skip with the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

FILE = Path("shared") / "qovery-api" / "qovery-core-openapi.yaml"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def spec_path() -> Path | None:
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / FILE).exists():
            return directory / FILE
    return None


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    path = spec_path()
    if path is None:
        assert os.environ.get("CI") != "true", "Qovery reference spec (../shared/qovery-api) missing in CI"
        pytest.skip("Qovery reference spec not beside the project (../shared/qovery-api)")
    return strict_one_of(yaml.safe_load(path.read_text()))


def strict_one_of(node: Any) -> Any:
    """Decode `oneOf` like Qovery's Go client does: its generated code tries each variant with a strict
    decoder (unknown fields rejected), so a body matches one variant only. Plain JSON Schema would also
    accept an application's `{commit, build_pod_name}` as the (all-optional) Helm variant and fail
    `oneOf`; closing each object variant that lists its properties gives the client's reading."""
    if isinstance(node, dict):
        out = {k: strict_one_of(v) for k, v in node.items()}
        if isinstance(out.get("oneOf"), list):
            out["oneOf"] = [
                {**v, "additionalProperties": False}
                if isinstance(v, dict) and "properties" in v and "additionalProperties" not in v
                else v
                for v in out["oneOf"]
            ]
        return out
    if isinstance(node, list):
        return [strict_one_of(v) for v in node]
    return node


def operation(spec: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for methods in spec["paths"].values():
        for op in methods.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise KeyError(operation_id)


def check(spec: dict[str, Any], operation_id: str, r: httpx.Response) -> Any:
    """Assert a success code of the operation and a body valid against its schema; return the body."""
    from openapi_schema_validator import OAS30Validator

    op = operation(spec, operation_id)
    success = sorted(code for code in op["responses"] if code.startswith("2"))
    assert str(r.status_code) in success, f"{operation_id}: {r.status_code} not in {success}: {r.text[:300]}"
    response = op["responses"][str(r.status_code)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content")
    if not content:
        assert r.content == b"", f"{operation_id}: {r.status_code} must have no body"
        return None
    media = r.headers["content-type"].split(";")[0]
    assert media in content, f"{operation_id}: answered {media}, spec has {sorted(content)}"
    body = r.json() if media == "application/json" else r.text
    validator = OAS30Validator(
        {**content[media]["schema"], "components": spec["components"]}, format_checker=OAS30Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{operation_id}: {errors[:5]}"
    _timestamps(body)
    return body


NOT_TIMES = {"scheduled_at"}


def _timestamps(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            # every `*_at` string is a time, except a cron job's `scheduled_at` (a cron expression)
            if key.endswith("_at") and key not in NOT_TIMES and isinstance(item, str):
                assert RFC3339.match(item), f"{key}={item} is not RFC 3339 with a zone"
            _timestamps(item)
    elif isinstance(value, list):
        for item in value:
            _timestamps(item)
