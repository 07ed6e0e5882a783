"""Bad input through the gateway answers 400 in Qovery's error form and writes nothing, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import Platform, run_platform


@pytest.fixture
async def platform(database_url: str, nats_server):  # type: ignore[no-untyped-def]
    async with run_platform(database_url, nats_server.url, with_catalog=True) as p:
        yield p


def refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == 400 and body["error"] == "Bad Request" and field in body["detail"], body


async def test_text_nesting_modes_and_scopes_are_refused_before_anything_is_written(platform: Platform) -> None:
    api = platform.api
    tokens = await platform.signup("bad@example.com")
    owner = {"Authorization": f"Bearer {tokens['access_token']}"}
    org = (await api.post("/organization", json={"name": "bad", "plan": "FREE"}, headers=owner)).json()["id"]
    projects = f"/organization/{org}/project"

    def raw(payload: str) -> dict[str, Any]:
        return {"content": payload.encode(), "headers": {**owner, "content-type": "application/json"}}

    # NUL and a lone surrogate, in a value and in a key, at any depth
    refused(await api.post(projects, **raw('{"name": "a\\u0000b"}')), "name: NUL")
    refused(await api.post(projects, **raw('{"name": "ok", "description": "\\udfff"}')), "description: lone surrogate")
    refused(await api.post(projects, **raw('{"name": "ok", "x": [{"y": "\\u0000"}]}')), "x.0.y")
    refused(await api.post(projects, **raw('{"k\\u0000": 1, "name": "ok"}')), "a key")
    refused(await api.post("/organization", **raw('{"name": "\\u0000", "plan": "FREE"}')), "name")
    # nesting: deep enough to exhaust a recursive parser, and just past the limit
    refused(await api.post(projects, **raw("[" * 50_000 + "]" * 50_000)), "nested deeper")
    refused(await api.post(projects, **raw(json.dumps({"name": "ok", "d": json.loads("[" * 70 + "]" * 70)}))), "nested")
    assert (await api.get(projects, headers=owner)).json()["results"] == []

    project = (await api.post(projects, json={"name": "shop"}, headers=owner)).json()["id"]
    envs = f"/project/{project}/environment"
    for mode in ("BOGUS", "development", 5, ["X"], {"m": 1}):
        refused(await api.post(envs, json={"name": "e", "mode": mode}, headers=owner), "mode")
    assert (await api.get(envs, headers=owner)).json()["results"] == []
    env = (await api.post(envs, json={"name": "dev"}, headers=owner)).json()["id"]
    for mode in ("BOGUS", 5):
        clone = {"name": "copy", "mode": mode, "project_id": project}
        refused(await api.post(f"/environment/{env}/clone", json=clone, headers=owner), "mode")
    assert [e["name"] for e in (await api.get(envs, headers=owner)).json()["results"]] == ["dev"]

    bad_scope = {"key": "K", "value": "v", "is_secret": False, "variable_scope": "GALAXY", "variable_parent_id": env}
    refused(await api.post("/variable", json=bad_scope, headers=owner), "variable_scope")
    refused(await api.get("/variable", params={"scope": "GALAXY", "parent_id": env}, headers=owner), "scope")
    no_parent = {**bad_scope, "variable_scope": "ENVIRONMENT", "variable_parent_id": None}
    refused(await api.post("/variable", json=no_parent, headers=owner), "variable_parent_id")
    surrogate = {**bad_scope, "variable_scope": "ENVIRONMENT", "value": "\udfff"}
    refused(
        await api.post(
            "/variable",
            content=json.dumps(surrogate).encode(),
            **{"headers": {**owner, "content-type": "application/json"}},
        ),
        "value",
    )  # noqa: E501
    listed = await api.get("/variable", params={"scope": "ENVIRONMENT", "parent_id": env}, headers=owner)
    assert listed.status_code == 200 and all(v["key"] != "K" for v in listed.json()["results"])
