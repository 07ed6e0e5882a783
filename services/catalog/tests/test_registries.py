"""Container registries on the catalog app itself: Qovery's codes and schemas, credentials encrypted and hidden."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from slipway.crypto import keyring_from

from .test_clusters import Catalog, bad, catalog, check  # noqa: F401  (catalog is a fixture)

HUB = {
    "name": "Docker Hub",
    "kind": "DOCKER_HUB",
    "description": "pulls",
    "config": {"username": "hub-user-4711", "password": "hub-password-s3cr3t"},
}


def stored(served: Catalog, registry_id: str, ciphertext: str | None) -> dict[str, Any]:
    assert ciphertext is not None
    plain = keyring_from(served.settings).decrypt(ciphertext, f"container_registry:{registry_id}:config")
    return json.loads(plain)  # type: ignore[no-any-return]


async def test_default_registry_is_listed_at_first_access(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    org = uuid.uuid4()
    listed = check(spec, "listContainerRegistry", await catalog.api.get(f"/organization/{org}/containerRegistry"))
    [default] = listed["results"]
    assert default["kind"] == "GENERIC_CR" and default["url"] == catalog.settings.default_registry_url
    assert default["config"] == {} and default["associated_services_count"] == 0
    got = check(
        spec,
        "getContainerRegistry",
        await catalog.api.get(f"/organization/{org}/containerRegistry/{default['id']}"),
    )
    assert got == default
    # clients send back what they read: the default's host:port URL is kept as it is
    edited = check(
        spec,
        "editContainerRegistry",
        await catalog.api.put(
            f"/organization/{org}/containerRegistry/{default['id']}", json={**default, "name": "local registry"}
        ),
    )
    assert edited["url"] == default["url"] and edited["name"] == "local registry"
    bad(await catalog.api.delete(f"/organization/{org}/containerRegistry/{default['id']}"), "default")


async def test_registry_crud_with_credentials_encrypted_and_hidden(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    org = uuid.uuid4()
    base = f"/organization/{org}/containerRegistry"
    created = check(spec, "createContainerRegistry", await catalog.api.post(base, json=HUB))
    rid = created["id"]
    assert created["url"] == "https://docker.io" and created["kind"] == "DOCKER_HUB"
    assert created["config"] == {"username": "hub-user-4711"}  # Qovery shows the username, never the password
    assert "hub-password" not in json.dumps(created)

    row = await catalog.row("container_registries", rid)
    assert "hub-password-s3cr3t" not in row and "hub-user-4711" not in row
    ciphertext = await catalog.column("container_registries", "config_encrypted", rid)
    assert stored(catalog, rid, ciphertext) == HUB["config"]

    listed = check(spec, "listContainerRegistry", await catalog.api.get(base))
    assert [r["name"] for r in listed["results"]] == ["local", "Docker Hub"]
    got = check(spec, "getContainerRegistry", await catalog.api.get(f"{base}/{rid}"))
    for body in (listed, got):
        assert "hub-password" not in json.dumps(body)

    # read-modify-write without the password keeps it; a new username needs a new password
    edited = check(
        spec,
        "editContainerRegistry",
        await catalog.api.put(f"{base}/{rid}", json={**got, "description": "mirror"}),
    )
    assert edited["description"] == "mirror" and edited["config"] == {"username": "hub-user-4711"}
    assert stored(catalog, rid, await catalog.column("container_registries", "config_encrypted", rid)) == HUB["config"]
    bad(
        await catalog.api.put(f"{base}/{rid}", json={**got, "config": {"username": "someone-else"}}),
        "config.password",
    )
    edited = check(
        spec,
        "editContainerRegistry",
        await catalog.api.put(
            f"{base}/{rid}", json={**got, "config": {"username": "bot", "password": "new-hub-password"}}
        ),
    )
    assert edited["config"] == {"username": "bot"}
    assert stored(catalog, rid, await catalog.column("container_registries", "config_encrypted", rid)) == {
        "username": "bot",
        "password": "new-hub-password",
    }

    # another kind: its own URL and credentials
    ghcr = check(
        spec,
        "editContainerRegistry",
        await catalog.api.put(
            f"{base}/{rid}",
            json={"name": "ghcr", "kind": "GENERIC_CR", "url": "https://registry.example.com", "config": {}},
        ),
    )
    assert ghcr["kind"] == "GENERIC_CR" and ghcr["url"] == "https://registry.example.com" and ghcr["config"] == {}
    assert await catalog.column("container_registries", "config_encrypted", rid) is None  # no credentials kept

    check(spec, "deleteContainerRegistry", await catalog.api.delete(f"{base}/{rid}"))
    assert (await catalog.api.get(f"{base}/{rid}")).status_code == 404
    assert (await catalog.api.delete(f"{base}/{rid}")).status_code == 404


async def test_each_kind_gets_its_url_and_needed_credentials(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    base = f"/organization/{uuid.uuid4()}/containerRegistry"
    ecr = check(
        spec,
        "createContainerRegistry",
        await catalog.api.post(
            base,
            json={
                "name": "ecr",
                "kind": "ECR",
                "url": "https://123.dkr.ecr.eu-west-3.amazonaws.com",
                "config": {"region": "eu-west-3", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "aws-s3cr3t"},
            },
        ),
    )
    assert ecr["config"] == {"region": "eu-west-3", "access_key_id": "AKIAEXAMPLE"}
    assert "aws-s3cr3t" not in await catalog.row("container_registries", ecr["id"])
    role = {"region": "eu-west-3", "role_arn": "arn:aws:iam::123:role/pull"}
    r = await catalog.api.post(
        base, json={"name": "ecr2", "kind": "ECR", "url": "https://1.dkr.ecr.aws", "config": role}
    )
    assert r.status_code == 201, r.text
    gcp = {"region": "europe-west1", "json_credentials": "eyJ0eXBlIjoic2VydmljZV9hY2NvdW50In0="}
    r = await catalog.api.post(
        base,
        json={"name": "gar", "kind": "GCP_ARTIFACT_REGISTRY", "url": "https://europe-docker.pkg.dev", "config": gcp},
    )
    assert r.status_code == 201 and "json_credentials" not in r.json()["config"], r.text
    local = check(
        spec,
        "createContainerRegistry",
        await catalog.api.post(
            base, json={"name": "lan", "kind": "GENERIC_CR", "url": "http://127.0.0.1:5001", "config": {}}
        ),
    )
    assert local["url"] == "http://127.0.0.1:5001"  # Slipway: plain HTTP for a generic (local) registry
    r = await catalog.api.post(base, json={"name": "gh", "kind": "GITHUB_CR", "url": "https://ghcr.io/", "config": {}})
    assert r.status_code == 201 and r.json()["url"] == "https://ghcr.io"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**HUB, "kind": "QUAY"}, ["kind"]),
        ({**HUB, "kind": "DOCR"}, ["DOCR", "not supported"]),
        ({"name": "x", "kind": "DOCKER_HUB"}, ["config"]),
        ({**HUB, "name": ""}, ["name"]),
        ({**HUB, "url": "https://quay.io"}, ["url", "https://docker.io"]),
        ({**HUB, "config": {"password": "p"}}, ["config.username"]),
        ({"name": "g", "kind": "GENERIC_CR", "config": {}}, ["url", "required"]),
        ({"name": "g", "kind": "GENERIC_CR", "url": "ftp://r.example.com", "config": {}}, ["url"]),
        ({"name": "g", "kind": "GENERIC_CR", "url": "registry.example.com", "config": {}}, ["url"]),
        (
            {"name": "e", "kind": "ECR", "url": "http://1.dkr.ecr.aws", "config": {"region": "r", "role_arn": "a"}},
            ["https"],
        ),
        ({"name": "e", "kind": "ECR", "url": "https://1.dkr.ecr.aws", "config": {"region": "r"}}, ["access_key_id"]),
        ({"name": "s", "kind": "SCALEWAY_CR", "url": "https://rg.fr-par.scw.cloud", "config": {}}, ["config.region"]),
        ({"name": "a", "kind": "AZURE_CR", "url": "https://x.azurecr.io", "config": {}}, ["azure_tenant_id"]),
        ({"name": "g", "kind": "GCP_ARTIFACT_REGISTRY", "url": "https://g.dev", "config": {"region": "r"}}, ["json"]),
        ({**HUB, "config": {"token_lifetime_seconds": "forever"}}, ["token_lifetime_seconds"]),
    ],
)
async def test_invalid_registries_answer_400_naming_the_field(
    catalog: Catalog,  # noqa: F811
    body: dict[str, Any],
    words: list[str],
) -> None:
    org = uuid.uuid4()
    bad(await catalog.api.post(f"/organization/{org}/containerRegistry", json=body), *words)
    assert len((await catalog.api.get(f"/organization/{org}/containerRegistry")).json()["results"]) == 1


async def test_registry_names_are_unique_and_scoped_to_the_organization(catalog: Catalog) -> None:  # noqa: F811
    org, other = uuid.uuid4(), uuid.uuid4()
    base = f"/organization/{org}/containerRegistry"
    hub = (await catalog.api.post(base, json=HUB)).json()
    r = await catalog.api.post(base, json={**HUB, "name": "DOCKER hub"})
    assert r.status_code == 409 and "already taken" in r.json()["detail"], r.text
    assert (await catalog.api.post(base, json={**HUB, "name": "Local"})).status_code == 409  # the default's name
    second = (await catalog.api.post(base, json={**HUB, "name": "second"})).json()
    assert (await catalog.api.put(f"{base}/{second['id']}", json={**HUB, "name": "docker HUB"})).status_code == 409
    assert (await catalog.api.post(f"/organization/{other}/containerRegistry", json=HUB)).status_code == 201
    for method in ("GET", "PUT", "DELETE"):
        r = await catalog.api.request(method, f"/organization/{other}/containerRegistry/{hub['id']}", json=HUB)
        assert r.status_code == 404 and r.json()["detail"] == "container registry not found", r.text
    bad(await catalog.api.get(f"{base}/not-a-uuid"), "registry_id")


async def test_available_registries_match_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    body = check(spec, "listAvailableContainerRegistry", await catalog.api.get("/availableContainerRegistry"))
    kinds = {r["kind"] for r in body["results"]}
    assert {"DOCKER_HUB", "GENERIC_CR", "ECR", "GITHUB_CR"} <= kinds and "DOCR" not in kinds
    ecr = next(r for r in body["results"] if r["kind"] == "ECR")
    assert ecr["is_mandatory"] is True and "secret_access_key" in ecr["required_config"]
