"""Git tokens on the catalog app itself: Qovery's codes and schemas; the token encrypted and never returned."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from slipway.crypto import DecryptionError, keyring_from

from .test_clusters import Catalog, bad, catalog, check  # noqa: F401  (catalog is a fixture)

TOKEN = "ghp_PlainTextTokenValue0123456789abcdef"
GITHUB = {"name": "CI bot", "type": "GITHUB", "token": TOKEN, "description": "read-only"}


async def test_git_token_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    org = uuid.uuid4()
    base = f"/organization/{org}/gitToken"
    assert check(spec, "listOrganizationGitTokens", await catalog.api.get(base)) == {"results": []}

    created = check(spec, "createGitToken", await catalog.api.post(base, json=GITHUB))
    tid = created["id"]
    assert created["name"] == "CI bot" and created["type"] == "GITHUB" and created["description"] == "read-only"
    assert created["git_api_url"] == "https://api.github.com" and created["associated_services_count"] == 0
    assert "token" not in created

    listed = check(spec, "listOrganizationGitTokens", await catalog.api.get(base))
    got = check(spec, "getOrganizationGitToken", await catalog.api.get(f"{base}/{tid}"))
    assert listed["results"] == [got] and got == created
    for body in (created, listed, got):
        assert TOKEN not in json.dumps(body)

    gitlab = {
        "name": "gitlab",
        "type": "GITLAB",
        "token": "glpat-other-secret",
        "git_api_url": "https://git.example.com",
    }
    edited = check(spec, "editGitToken", await catalog.api.put(f"{base}/{tid}", json=gitlab))
    assert edited["type"] == "GITLAB" and edited["git_api_url"] == "https://git.example.com"
    assert edited["description"] == "read-only"  # omitted: unchanged
    assert "glpat" not in json.dumps(edited)
    keys = keyring_from(catalog.settings)
    ciphertext = await catalog.column("git_tokens", "token_encrypted", tid)
    assert keys.decrypt(ciphertext, f"git_token:{tid}:token") == "glpat-other-secret"

    bitbucket = check(
        spec,
        "createGitToken",
        await catalog.api.post(base, json={"name": "bb", "type": "BITBUCKET", "token": "t", "workspace": "acme"}),
    )
    assert bitbucket["workspace"] == "acme" and bitbucket["git_api_url"] == "https://api.bitbucket.org"

    check(spec, "deleteGitToken", await catalog.api.delete(f"{base}/{tid}"))
    assert (await catalog.api.get(f"{base}/{tid}")).status_code == 404
    assert [t["name"] for t in (await catalog.api.get(base)).json()["results"]] == ["bb"]


async def test_the_token_is_encrypted_at_rest_and_bound_to_its_row(catalog: Catalog) -> None:  # noqa: F811
    base = f"/organization/{uuid.uuid4()}/gitToken"
    first = (await catalog.api.post(base, json=GITHUB)).json()
    second = (await catalog.api.post(base, json={**GITHUB, "name": "other", "token": "another-token"})).json()
    row = await catalog.row("git_tokens", first["id"])
    assert TOKEN not in row and "PlainTextTokenValue" not in row
    keys = keyring_from(catalog.settings)
    ciphertext = await catalog.column("git_tokens", "token_encrypted", first["id"])
    assert keys.decrypt(ciphertext, f"git_token:{first['id']}:token") == TOKEN
    with pytest.raises(DecryptionError):  # copied into another row, it decrypts to nothing
        keys.decrypt(ciphertext, f"git_token:{second['id']}:token")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**GITHUB, "type": "GITEA"}, ["type"]),
        ({"name": "x", "type": "GITHUB"}, ["token"]),
        ({**GITHUB, "token": ""}, ["token"]),
        ({**GITHUB, "token": "   "}, ["token", "blank"]),
        ({**GITHUB, "name": ""}, ["name"]),
        ({"name": "bb", "type": "BITBUCKET", "token": "t"}, ["workspace", "BITBUCKET"]),
        ({**GITHUB, "git_api_url": "git.example.com"}, ["git_api_url"]),
        ({**GITHUB, "git_api_url": "ssh://git.example.com"}, ["git_api_url"]),
    ],
)
async def test_invalid_git_tokens_answer_400_naming_the_field(
    catalog: Catalog,  # noqa: F811
    body: dict[str, Any],
    words: list[str],
) -> None:
    org = uuid.uuid4()
    bad(await catalog.api.post(f"/organization/{org}/gitToken", json=body), *words)
    existing = (await catalog.api.post(f"/organization/{org}/gitToken", json={**GITHUB, "name": "ok"})).json()
    bad(await catalog.api.put(f"/organization/{org}/gitToken/{existing['id']}", json=body), *words)
    assert [t["name"] for t in (await catalog.api.get(f"/organization/{org}/gitToken")).json()["results"]] == ["ok"]


async def test_git_token_names_are_unique_and_scoped_to_the_organization(catalog: Catalog) -> None:  # noqa: F811
    org, other = uuid.uuid4(), uuid.uuid4()
    base = f"/organization/{org}/gitToken"
    token = (await catalog.api.post(base, json=GITHUB)).json()
    r = await catalog.api.post(base, json={**GITHUB, "name": "ci BOT"})
    assert r.status_code == 409 and "already taken" in r.json()["detail"], r.text
    second = (await catalog.api.post(base, json={**GITHUB, "name": "second"})).json()
    assert (await catalog.api.put(f"{base}/{second['id']}", json={**GITHUB, "name": "CI BOT"})).status_code == 409
    assert (await catalog.api.post(f"/organization/{other}/gitToken", json=GITHUB)).status_code == 201
    for method in ("GET", "PUT", "DELETE"):
        r = await catalog.api.request(method, f"/organization/{other}/gitToken/{token['id']}", json=GITHUB)
        assert r.status_code == 404 and r.json()["detail"] == "git token not found", r.text
    bad(await catalog.api.delete(f"{base}/42"), "git_token_id")
