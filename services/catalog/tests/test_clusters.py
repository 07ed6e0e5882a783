"""Clusters and their kubeconfig on the catalog app itself: Qovery's codes and schemas, secrets kept encrypted.

Also holds the helpers the registry and Git token tests share (the served app, the spec check).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from catalog.main import create_app
from catalog.models import Environment, Organization, Project
from catalog.organization.service import ensure_organization, rename
from catalog.settings import CatalogSettings
from slipway.crypto import keyring_from
from slipway.principal import HEADER, Principal, service_principal, sign
from slipway_stack.qovery_spec import check
from slipway_stack.testing import serve

KEY = "catalog-test-internal-key"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2c9PQ==
contexts:
- name: prod
  context:
    cluster: prod
    user: admin
current-context: prod
users:
- name: admin
  user:
    token: kube-secret-bearer-token-0123456789
"""


# -- shared helpers ----------------------------------------------------------------------------------
class Signed(httpx.Auth):
    """Signs each request as the gateway would (a fresh short-lived principal every time)."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[HEADER] = sign(self.principal, KEY)
        yield request


def user_principal() -> Principal:
    user = uuid.uuid4()
    return Principal(kind="user", subject=str(user), user_id=user)


@dataclass
class Catalog:
    app: Any
    settings: CatalogSettings
    api: httpx.AsyncClient  # signed as a user
    url: str

    async def row(self, table: str, ident: str) -> str:
        """The whole database row as JSON text: what anyone reading the table would see."""
        async with self.app.state.db.transaction() as session:
            found = await session.execute(
                text(f"SELECT row_to_json(t)::text FROM catalog.{table} t WHERE id = :id"), {"id": ident}
            )
            return str(found.scalar_one())

    async def column(self, table: str, column: str, ident: str) -> Any:
        async with self.app.state.db.transaction() as session:
            found = await session.execute(text(f"SELECT {column} FROM catalog.{table} WHERE id = :id"), {"id": ident})
            return found.scalar_one()


@pytest.fixture
async def catalog(database_url: str, nats_server) -> AsyncIterator[Catalog]:  # type: ignore[no-untyped-def]
    settings = CatalogSettings(database_url=database_url, nats_url=nats_server.url, internal_auth_key=KEY)
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, auth=Signed(user_principal()), timeout=30) as api:
        yield Catalog(app, settings, api, url)


def bad(r: httpx.Response, *words: str) -> None:
    """A Qovery-style 400 whose detail names the offending field."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == 400 and body["error"] == "Bad Request", body
    for word in words:
        assert word in body["detail"], body["detail"]


# -- clusters ------------------------------------------------------------------------------------------
ON_PREMISE = {"name": "Prod", "region": "eu-home", "cloud_provider": "ON_PREMISE", "kubernetes": "SELF_MANAGED"}


async def test_default_cluster_is_listed_at_first_access_without_any_event(
    catalog: Catalog, spec: dict[str, Any]
) -> None:
    org = uuid.uuid4()  # iam's organization.created event never reaches this catalog
    listed = check(spec, "listOrganizationCluster", await catalog.api.get(f"/organization/{org}/cluster"))
    [default] = listed["results"]
    assert default["is_default"] is True and default["organization"]["id"] == str(org)
    assert default["cloud_provider"] == "ON_PREMISE" and default["kubernetes"] == "SELF_MANAGED"
    assert (
        default["slipway_engine"] == "podman" and default["slipway_engine_host"] == catalog.settings.default_engine_host
    )
    assert default["has_access"] is True
    again = check(spec, "listOrganizationCluster", await catalog.api.get(f"/organization/{org}/cluster"))
    assert again["results"] == listed["results"]  # seeded once

    # the organization was recorded without its name; iam's event fills it in, a stale replay changes nothing
    async with catalog.app.state.db.transaction() as s:
        assert (await s.get(Organization, org)).name == ""  # type: ignore[union-attr]
        await ensure_organization(s, catalog.settings, org, "acme")
    async with catalog.app.state.db.transaction() as s:
        assert (await s.get(Organization, org)).name == "acme"  # type: ignore[union-attr]
        await rename(s, org, "acme 2")
    async with catalog.app.state.db.transaction() as s:
        await ensure_organization(s, catalog.settings, org, "acme")  # the created event delivered again
    async with catalog.app.state.db.transaction() as s:
        assert (await s.get(Organization, org)).name == "acme 2"  # type: ignore[union-attr]
    assert len((await catalog.api.get(f"/organization/{org}/cluster")).json()["results"]) == 1


async def test_cluster_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:
    org = uuid.uuid4()
    base = f"/organization/{org}/cluster"
    created = check(spec, "createCluster", await catalog.api.post(base, json={**ON_PREMISE, "description": "k3s"}))
    assert created["name"] == "Prod" and created["is_default"] is False and created["slipway_engine"] == "kubernetes"
    assert created["has_access"] is False  # no kubeconfig yet
    assert "slipway_engine_host" not in created
    cid = created["id"]

    # Qovery clients omit kubernetes at times, and send cloud-only fields: both are fine
    minimal = check(
        spec,
        "createCluster",
        await catalog.api.post(
            base, json={"name": "edge", "region": "r", "cloud_provider": "ON_PREMISE", "min_running_nodes": 3}
        ),
    )
    assert minimal["kubernetes"] == "SELF_MANAGED"
    engine_host = check(
        spec,
        "createCluster",
        await catalog.api.post(
            base,
            json={
                **ON_PREMISE,
                "name": "lab",
                "slipway_engine": "docker",
                "slipway_engine_host": "tcp://10.0.0.5:2375",
            },
        ),
    )
    assert engine_host["slipway_engine"] == "docker" and engine_host["has_access"] is True

    listed = check(spec, "listOrganizationCluster", await catalog.api.get(base))
    assert [c["name"] for c in listed["results"]] == ["local", "Prod", "edge", "lab"]  # the default first

    edited = check(
        spec,
        "editCluster",
        await catalog.api.put(f"{base}/{cid}", json={**created, "name": "Production", "production": True}),
    )
    assert edited["name"] == "Production" and edited["production"] is True and edited["description"] == "k3s"
    assert edited["updated_at"] >= edited["created_at"]
    default_id = listed["results"][0]["id"]
    renamed = check(
        spec,
        "editCluster",
        await catalog.api.put(f"{base}/{default_id}", json={**listed["results"][0], "name": "local engine"}),
    )
    assert renamed["is_default"] is True and renamed["slipway_engine"] == "podman"

    r = await catalog.api.delete(f"{base}/{cid}")
    check(spec, "deleteCluster", r)
    assert (await catalog.api.put(f"{base}/{cid}", json=ON_PREMISE)).status_code == 404
    assert [c["name"] for c in (await catalog.api.get(base)).json()["results"]] == ["local engine", "edge", "lab"]
    check(spec, "deleteCluster", await catalog.api.delete(f"{base}/{minimal['id']}", params={"deleteMode": "DEFAULT"}))


async def test_cluster_validation_answers_400_naming_the_field(catalog: Catalog) -> None:
    base = f"/organization/{uuid.uuid4()}/cluster"
    bad(await catalog.api.post(base, json={**ON_PREMISE, "cloud_provider": "AWS"}), "cloud_provider", "ON_PREMISE")
    bad(await catalog.api.post(base, json={**ON_PREMISE, "cloud_provider": "MARS"}), "cloud_provider")
    bad(await catalog.api.post(base, json={**ON_PREMISE, "kubernetes": "MANAGED"}), "kubernetes", "SELF_MANAGED")
    bad(await catalog.api.post(base, json={**ON_PREMISE, "kubernetes": "BYO"}), "kubernetes")
    bad(await catalog.api.post(base, json={"region": "r", "cloud_provider": "ON_PREMISE"}), "name")
    bad(await catalog.api.post(base, json={**ON_PREMISE, "name": ""}), "name")
    bad(await catalog.api.post(base, json={**ON_PREMISE, "slipway_engine": "lxc"}), "slipway_engine")
    bad(await catalog.api.post(base, json={**ON_PREMISE, "slipway_engine": "docker"}), "slipway_engine_host")
    bad(
        await catalog.api.post(base, json={**ON_PREMISE, "slipway_engine": "podman", "slipway_engine_host": "ftp://x"}),
        "slipway_engine_host",
    )
    bad(await catalog.api.post(base, json={**ON_PREMISE, "slipway_engine_host": "tcp://h:1"}), "slipway_engine_host")
    for address in (
        "tcp://256.1.1.1:99999",
        "tcp://256.1.1.1:2375",
        "tcp://engine:99999",
        "tcp://bad_host:2375",
        "tcp://a b:2375",
        "unix://relative.sock",
        "tcp://:2375",
    ):
        body = {**ON_PREMISE, "slipway_engine": "docker", "slipway_engine_host": address}
        bad(await catalog.api.post(base, json=body), "slipway_engine_host")
    bad(await catalog.api.post(base, content=b"{not json", headers={"content-type": "application/json"}), "JSON")
    bad(await catalog.api.get("/organization/not-a-uuid/cluster"), "organization_id")
    bad(await catalog.api.put(f"{base}/nope", json=ON_PREMISE), "cluster_id")
    bad(await catalog.api.delete(f"{base}/{uuid.uuid4()}", params={"deleteMode": "EVERYTHING"}), "deleteMode")

    created = (await catalog.api.post(base, json=ON_PREMISE)).json()
    bad(
        await catalog.api.put(f"{base}/{created['id']}", json={**ON_PREMISE, "slipway_engine": "docker"}),
        "slipway_engine",
    )
    bad(
        await catalog.api.put(f"{base}/{created['id']}", json={**ON_PREMISE, "cloud_provider": "GCP"}), "cloud_provider"
    )
    default = (await catalog.api.get(base)).json()["results"][0]
    bad(
        await catalog.api.put(f"{base}/{default['id']}", json={**default, "slipway_engine_host": "tcp://other:2375"}),
        "slipway_engine_host",
    )


async def test_cluster_names_are_unique_case_insensitively(catalog: Catalog) -> None:
    org = uuid.uuid4()
    base = f"/organization/{org}/cluster"
    first = (await catalog.api.post(base, json=ON_PREMISE)).json()
    r = await catalog.api.post(base, json={**ON_PREMISE, "name": "PROD"})
    assert r.status_code == 409 and "already taken" in r.json()["detail"], r.text
    assert (await catalog.api.post(base, json={**ON_PREMISE, "name": "LOCAL"})).status_code == 409  # the default's
    other = (await catalog.api.post(base, json={**ON_PREMISE, "name": "staging"})).json()
    r = await catalog.api.put(f"{base}/{other['id']}", json={**ON_PREMISE, "name": "prod"})
    assert r.status_code == 409, r.text
    # the same name in another organization is fine
    assert (await catalog.api.post(f"/organization/{uuid.uuid4()}/cluster", json=ON_PREMISE)).status_code == 201
    assert (await catalog.api.put(f"{base}/{first['id']}", json={**ON_PREMISE, "name": "pRoD"})).status_code == 200


async def test_clusters_of_another_organization_are_not_found(catalog: Catalog) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    cluster = (await catalog.api.post(f"/organization/{theirs}/cluster", json=ON_PREMISE)).json()
    for method in ("PUT", "DELETE"):
        r = await catalog.api.request(method, f"/organization/{mine}/cluster/{cluster['id']}", json=ON_PREMISE)
        assert r.status_code == 404 and r.json()["detail"] == "cluster not found", r.text
    assert (await catalog.api.get(f"/organization/{mine}/cluster/{cluster['id']}/kubeconfig")).status_code == 404
    r = await catalog.api.put(
        f"/organization/{mine}/cluster/{cluster['id']}/kubeconfig",
        content=KUBECONFIG,
        headers={"content-type": "application/x-yaml"},
    )
    assert r.status_code == 404
    assert (await catalog.api.delete(f"/organization/{mine}/cluster/{uuid.uuid4()}")).status_code == 404
    assert (await catalog.api.get(f"/organization/{theirs}/cluster/{cluster['id']}/kubeconfig")).status_code == 404


async def test_default_cluster_cannot_be_deleted_and_a_used_one_conflicts(catalog: Catalog) -> None:
    org = uuid.uuid4()
    base = f"/organization/{org}/cluster"
    default = (await catalog.api.get(base)).json()["results"][0]
    bad(await catalog.api.delete(f"{base}/{default['id']}"), "default cluster")
    used = (await catalog.api.post(base, json=ON_PREMISE)).json()
    async with catalog.app.state.db.transaction() as s:
        project = Project(id=uuid.uuid4(), organization_id=org, name="shop")
        s.add(project)
        await s.flush()
        s.add(
            Environment(
                project_id=project.id,
                organization_id=org,
                cluster_id=uuid.UUID(used["id"]),
                name="prod",
                mode="PRODUCTION",
            )
        )
    r = await catalog.api.delete(f"{base}/{used['id']}")
    assert r.status_code == 409 and "1 environment" in r.json()["detail"], r.text
    assert len((await catalog.api.get(base)).json()["results"]) == 2


async def test_kubeconfig_round_trip_encrypted_and_never_elsewhere(catalog: Catalog, spec: dict[str, Any]) -> None:
    org = uuid.uuid4()
    base = f"/organization/{org}/cluster"
    cluster = (await catalog.api.post(base, json=ON_PREMISE)).json()
    url = f"{base}/{cluster['id']}/kubeconfig"
    r = await catalog.api.get(url)
    assert r.status_code == 404 and "no kubeconfig" in r.json()["detail"]

    r = await catalog.api.put(url, content=KUBECONFIG, headers={"content-type": "application/x-yaml"})
    check(spec, "editClusterKubeconfig", r)
    r = await catalog.api.get(url)
    assert check(spec, "getClusterKubeconfig", r) == KUBECONFIG  # byte for byte, comments and order kept
    assert r.headers["content-type"].startswith("application/x-yaml")

    # at rest: ciphertext only, bound to this cluster
    row = await catalog.row("clusters", cluster["id"])
    assert "kube-secret-bearer-token" not in row and "10.0.0.1" not in row and "current-context" not in row
    stored = await catalog.column("clusters", "kubeconfig_encrypted", cluster["id"])
    assert stored.startswith("v1.")
    assert keyring_from(catalog.settings).decrypt(stored, f"cluster:{cluster['id']}:kubeconfig") == KUBECONFIG

    # no other response carries it
    listed = check(spec, "listOrganizationCluster", await catalog.api.get(base))
    edited = check(spec, "editCluster", await catalog.api.put(f"{base}/{cluster['id']}", json=ON_PREMISE))
    for body in (listed, edited):
        assert "kube-secret-bearer-token" not in str(body) and "kubeconfig" not in str(body)
    assert edited["has_access"] is True

    # replaced by the next upload (text/yaml is accepted too)
    replacement = KUBECONFIG.replace("kube-secret-bearer-token-0123456789", "rotated-token")
    r = await catalog.api.put(url, content=replacement, headers={"content-type": "text/yaml"})
    assert r.status_code == 204, r.text
    assert (await catalog.api.get(url)).text == replacement


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", ["empty"]),
        (b"clusters: [unclosed", ["not valid YAML", "line"]),
        (b"- just\n- a list\n", ["mapping"]),
        (b"\xff\xfe", ["UTF-8"]),
        (KUBECONFIG.replace("users:", "people:").encode(), ["kubeconfig.users"]),
        (KUBECONFIG.replace("contexts:\n- name: prod\n", "contexts:\n- nom: prod\n").encode(), ["contexts[0]"]),
        (KUBECONFIG.replace("current-context: prod", "current-context: dev").encode(), ["current-context"]),
        (KUBECONFIG.replace("    user: admin", "    user: root").encode(), ["context.user", "root"]),
    ],
)
async def test_an_invalid_kubeconfig_is_refused(catalog: Catalog, body: bytes, words: list[str]) -> None:
    base = f"/organization/{uuid.uuid4()}/cluster"
    cluster = (await catalog.api.post(base, json=ON_PREMISE)).json()
    url = f"{base}/{cluster['id']}/kubeconfig"
    bad(await catalog.api.put(url, content=body, headers={"content-type": "application/x-yaml"}), *words)
    assert (await catalog.api.get(url)).status_code == 404  # nothing stored


async def test_kubeconfig_media_type_and_engine(catalog: Catalog) -> None:
    base = f"/organization/{uuid.uuid4()}/cluster"
    default = (await catalog.api.get(base)).json()["results"][0]
    url = f"{base}/{default['id']}/kubeconfig"
    r = await catalog.api.get(url)
    assert r.status_code == 404, r.text  # the local container engine has no kubeconfig
    bad(await catalog.api.put(url, content=KUBECONFIG, headers={"content-type": "application/x-yaml"}), "podman")
    cluster = (await catalog.api.post(base, json=ON_PREMISE)).json()
    r = await catalog.api.put(
        f"{base}/{cluster['id']}/kubeconfig", content=KUBECONFIG, headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415, r.text
    r = await catalog.api.post(base, content=KUBECONFIG, headers={"content-type": "application/x-yaml"})
    assert r.status_code == 415, r.text  # YAML only where a kubeconfig goes


async def test_routes_need_a_signed_principal_and_the_scope_route_a_service(catalog: Catalog) -> None:
    org = uuid.uuid4()
    async with httpx.AsyncClient(base_url=catalog.url) as anonymous:
        r = await anonymous.get(f"/organization/{org}/cluster")
        assert r.status_code == 401, r.text
        forged = {HEADER: sign(user_principal(), "not-the-key")}
        assert (await anonymous.get(f"/organization/{org}/cluster", headers=forged)).status_code == 401
        cluster = (await catalog.api.post(f"/organization/{org}/cluster", json=ON_PREMISE)).json()
        scope_url = f"/internal/scope/cluster/{cluster['id']}"
        as_service = {HEADER: sign(service_principal("api-gateway"), KEY)}
        r = await anonymous.get(scope_url, headers=as_service)
        assert r.status_code == 200 and r.json() == {"organization_id": str(org), "cluster_id": cluster["id"]}
        assert (await anonymous.get(f"/internal/scope/cluster/{uuid.uuid4()}", headers=as_service)).status_code == 404
        assert (await catalog.api.get(scope_url)).status_code == 403  # a user's principal is not enough
        assert (await anonymous.get(scope_url)).status_code == 401
