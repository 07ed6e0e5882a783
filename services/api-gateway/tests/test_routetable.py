"""Every Qovery operation in the reference list routes to its owner as ARCHITECTURE §2 assigns it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from gateway.routing import resolve, websocket_service

# The reference material lives beside the project (never copied into it): ../shared/qovery-api/.
REFERENCE = Path(__file__).resolve().parents[3].parent / "shared" / "qovery-api" / "operations.json"


def expected_owner(path: str, listed: str) -> str:
    """ARCHITECTURE §2 wins over the Service column of the reference list."""
    if path in ("/organization", "/organization/{organizationId}") or path.startswith("/account"):
        return "iam"
    if re.search(r"/(gitToken|containerRegistry)", path) or path == "/availableContainerRegistry":
        return "catalog"
    if "deploymentStage" in path or re.match(r"^/cluster/[^/]+/token$", path):
        return "catalog"
    if path == "/organization/{organizationId}/container/preview":
        return "catalog"  # a container preview is a clone of environments, which catalog owns (§2)
    return listed


def load() -> dict:  # type: ignore[type-arg]
    if not REFERENCE.exists():
        # A user's clone has no reference copy beside it; CI always does, so there it must run.
        assert os.environ.get("CI") != "true", f"reference list missing at {REFERENCE}"
        pytest.skip(f"Qovery reference list not beside the project ({REFERENCE})")
    return json.loads(REFERENCE.read_text())


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0b7e3c4a-5a8e-4d7e-9a53-3d3b1c2f0001", path)


def test_every_rest_operation_routes_to_its_owner() -> None:
    operations = load()["rest"]
    assert len(operations) > 250
    wrong = []
    for op in operations:
        route = resolve(concrete(op["path"]))
        want = expected_owner(op["path"], op["service"])
        if route is None or route.service != want or op["method"] not in route.methods:
            wrong.append((op["method"], op["path"], want, route))
    assert not wrong, wrong[:10]


def test_every_websocket_routes_to_logs() -> None:
    for ws in load()["websocket"]:
        assert websocket_service(ws["path"]) == "logs"


def test_literal_segments_win_over_identifiers() -> None:
    assert resolve("/organization/x/cluster/status").service == "deployer"  # type: ignore[union-attr]
    assert resolve("/organization/x/cluster/y").service == "catalog"  # type: ignore[union-attr]
    assert resolve("/organization/x/apiToken").service == "iam"  # type: ignore[union-attr]


def test_unknown_paths_do_not_resolve() -> None:
    for path in ("/", "/internal/introspect", "/healthz/x", "/organization/x/y/z/w", "/../etc/passwd"):
        assert resolve(path) is None
