"""Cluster advanced settings on the catalog app: Qovery's keys and Slipway's `slipway.*` ones, their defaults,
strict validation (400 naming the key, nothing written), and what the deployer's desired state carries of them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from slipway_stack.qovery_spec import check

from .test_clusters import ON_PREMISE, Catalog, bad, catalog  # noqa: F401  (fixture)
from .test_desired_state import sealed, snapshot

DEFAULTS = {
    "slipway.ingress.class_name": "",
    "slipway.ingress.cert_manager_cluster_issuer": "",
    "slipway.storage.class_name": "",
    "slipway.database.registry_mirror": "",
}
CHOSEN = {
    "slipway.ingress.class_name": "nginx",
    "slipway.ingress.cert_manager_cluster_issuer": "letsencrypt-prod",
    "slipway.storage.class_name": "fast.ssd-1",
}


async def kubernetes_cluster(cat: Catalog, org: uuid.UUID) -> str:
    r = await cat.api.post(f"/organization/{org}/cluster", json={**ON_PREMISE, "name": f"k-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def url(org: uuid.UUID, cluster: str) -> str:
    return f"/organization/{org}/cluster/{cluster}/advancedSettings"


async def stored(cat: Catalog, cluster: str) -> dict[str, Any]:
    return await cat.column("clusters", "advanced_settings", cluster)  # type: ignore[no-any-return]


async def test_defaults_are_slipways_keys_and_clusters_start_with_them(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    defaults = check(
        spec, "getDefaultClusterAdvancedSettings", await catalog.api.get("/defaultClusterAdvancedSettings")
    )
    assert defaults == DEFAULTS
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    default = (await catalog.api.get(f"/organization/{org}/cluster")).json()["results"][0]["id"]
    for ident in (cluster, default):
        assert check(spec, "getClusterAdvancedSettings", await catalog.api.get(url(org, ident))) == DEFAULTS
        assert await stored(catalog, ident) == {}


async def test_round_trip_stores_only_what_differs_from_the_defaults(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    qovery = {"loki.log_retention_in_week": 12, "database.redis.allowed_cidrs": ["10.0.0.0/8"]}
    body = {**DEFAULTS, **CHOSEN, **qovery, "slipway.storage.class_name": ""}
    answered = check(spec, "editClusterAdvancedSettings", await catalog.api.put(url(org, cluster), json=body))
    assert answered == body
    assert check(spec, "getClusterAdvancedSettings", await catalog.api.get(url(org, cluster))) == body
    assert await stored(catalog, cluster) == {
        "slipway.ingress.class_name": "nginx",
        "slipway.ingress.cert_manager_cluster_issuer": "letsencrypt-prod",
        **qovery,
    }
    # what GET answered, sent back whole (Qovery's console and Terraform provider do so): nothing changes
    assert (await catalog.api.put(url(org, cluster), json=answered)).json() == body
    # the body is the whole object: a key left out goes back to its default
    r = await catalog.api.put(url(org, cluster), json={"slipway.storage.class_name": "standard"})
    assert r.status_code == 201 and r.json() == {**DEFAULTS, "slipway.storage.class_name": "standard"}, r.text
    r = await catalog.api.put(url(org, cluster), json={})
    assert r.status_code == 201 and r.json() == DEFAULTS, r.text
    assert await stored(catalog, cluster) == {}


def _valid(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][-1]
    return {
        "integer": schema.get("minimum", 0) + 7,
        "boolean": True,
        "string": "x",
        "array": ["10.0.0.0/8"],
        "object": {"team": "a"},
    }[schema["type"]]


def _wrong(schema: dict[str, Any]) -> Any:
    return {"integer": "7", "boolean": 1, "string": 7, "array": "10.0.0.0/8", "object": ["a"]}[schema["type"]]


async def test_every_qovery_key_is_accepted_with_its_type_only(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    """Qovery's keys (read from its spec here, typed in catalog.cluster.schemas) are kept and read back."""
    schemas = spec["components"]["schemas"]
    properties = schemas["ClusterAdvancedSettings"]["properties"]
    resolved = {key: schemas[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p for key, p in properties.items()}
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    body = {key: _valid(schema) for key, schema in resolved.items()}
    answered = check(spec, "editClusterAdvancedSettings", await catalog.api.put(url(org, cluster), json=body))
    assert answered == {**DEFAULTS, **body}
    for key, schema in resolved.items():
        bad(await catalog.api.put(url(org, cluster), json={key: _wrong(schema)}), key)
        if not schema.get("nullable"):
            bad(await catalog.api.put(url(org, cluster), json={key: None}), key)
    assert (await catalog.api.get(url(org, cluster))).json() == {**DEFAULTS, **body}  # nothing written by those
    nulls = {key: None for key, schema in resolved.items() if schema.get("nullable")}
    assert nulls and check(
        spec, "editClusterAdvancedSettings", await catalog.api.put(url(org, cluster), json=nulls)
    ) == {**DEFAULTS, **nulls}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"slipway.ingress.classname": "nginx"}, ["slipway.ingress.classname", "unknown cluster advanced setting"]),
        ({"nginx.replicas": 2, "aws.made.up": True}, ["aws.made.up, nginx.replicas", "settings"]),
        ({"slipway.ingress.class_name": 7}, ["slipway.ingress.class_name", "string"]),
        ({"slipway.storage.class_name": None}, ["slipway.storage.class_name", "string"]),
        ({"slipway.ingress.class_name": "Nginx"}, ["slipway.ingress.class_name", "DNS-1123", "'Nginx'"]),
        ({"slipway.ingress.class_name": "-nginx"}, ["slipway.ingress.class_name", "DNS-1123"]),
        ({"slipway.ingress.class_name": "nginx_public"}, ["slipway.ingress.class_name", "DNS-1123"]),
        ({"slipway.ingress.class_name": "nginx\n"}, ["slipway.ingress.class_name", "DNS-1123"]),
        ({"slipway.ingress.cert_manager_cluster_issuer": "a..b"}, ["cert_manager_cluster_issuer", "DNS-1123"]),
        ({"slipway.ingress.cert_manager_cluster_issuer": "le prod"}, ["cert_manager_cluster_issuer", "DNS-1123"]),
        ({"slipway.storage.class_name": "a" * 254}, ["slipway.storage.class_name", "254 characters, at most 253"]),
        ({"loki.log_retention_in_week": True}, ["loki.log_retention_in_week", "integer"]),
        ({"loki.log_retention_in_week": 1.5}, ["loki.log_retention_in_week", "integer"]),
        ({"registry.image_retention_time": 2**31}, ["registry.image_retention_time", "less than or equal"]),
        ({"loki.deployment_mode": "cluster"}, ["loki.deployment_mode", "single_binary"]),
        ({"registry.mirroring_mode": "service"}, ["registry.mirroring_mode", "Service"]),
        ({"envoy.gateway_api.retry.per_try_timeout_seconds": 0}, ["per_try_timeout_seconds", "greater than"]),
        ({"cloud_provider.container_registry.tags": {"team": 1}}, ["cloud_provider.container_registry.tags.team"]),
        ({"database.mysql.allowed_cidrs": ["10.0.0.0/8", 5]}, ["database.mysql.allowed_cidrs.1"]),
        ([{"slipway.ingress.class_name": "nginx"}], ["dictionary"]),
        ("nginx", ["dictionary"]),
    ],
)
async def test_invalid_settings_are_a_400_and_write_nothing(catalog: Catalog, body: Any, words: list[str]) -> None:  # noqa: F811
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    kept = {**DEFAULTS, **CHOSEN}
    assert (await catalog.api.put(url(org, cluster), json=kept)).status_code == 201
    if isinstance(body, dict):  # a valid key beside the bad one is not written either
        body = {"slipway.ingress.class_name": "traefik", **body}
    r = await catalog.api.put(url(org, cluster), json=body)
    bad(r, *words)
    assert set(r.json()) >= {"status", "error", "detail"}
    assert (await catalog.api.get(url(org, cluster))).json() == kept


async def test_malformed_json_is_a_400(catalog: Catalog) -> None:  # noqa: F811
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    r = await catalog.api.put(url(org, cluster), content=b"{nope", headers={"content-type": "application/json"})
    bad(r, "JSON")
    bad(await catalog.api.put(url(org, cluster)), "body")


async def test_slipways_keys_need_a_kubernetes_cluster(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    org = uuid.uuid4()
    default = (await catalog.api.get(f"/organization/{org}/cluster")).json()["results"][0]
    for key, value in CHOSEN.items():
        bad(await catalog.api.put(url(org, default["id"]), json={**DEFAULTS, key: value}), key, "kubernetes", "podman")
    # sent back as they are (''), and with Qovery's keys: fine
    r = await catalog.api.put(url(org, default["id"]), json={**DEFAULTS, "qovery.static_ip_mode": True})
    assert check(spec, "editClusterAdvancedSettings", r) == {**DEFAULTS, "qovery.static_ip_mode": True}


async def test_another_organizations_cluster_is_not_found(catalog: Catalog) -> None:  # noqa: F811
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, theirs)
    for method, body in (("GET", None), ("PUT", CHOSEN)):
        r = await catalog.api.request(method, url(mine, cluster), json=body)
        assert r.status_code == 404 and r.json()["detail"] == "cluster not found", r.text
    r = await catalog.api.put(url(mine, str(uuid.uuid4())), json=CHOSEN)
    assert r.status_code == 404 and r.json()["detail"] == "cluster not found", r.text
    bad(await catalog.api.get(f"/organization/{mine}/cluster/nope/advancedSettings"), "cluster_id")
    assert await stored(catalog, cluster) == {}


async def test_routes_need_a_signed_principal(catalog: Catalog) -> None:  # noqa: F811
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    async with httpx.AsyncClient(base_url=catalog.url) as anonymous:
        assert (await anonymous.get("/defaultClusterAdvancedSettings")).status_code == 401
        assert (await anonymous.get(url(org, cluster))).status_code == 401
        assert (await anonymous.put(url(org, cluster), json=CHOSEN)).status_code == 401
    assert await stored(catalog, cluster) == {}


async def _outbox(cat: Catalog) -> int:
    async with cat.app.state.db.transaction() as session:
        return int((await session.execute(text("SELECT count(*) FROM catalog.outbox"))).scalar_one())


async def test_the_desired_state_carries_them_and_nothing_else_changes(catalog: Catalog) -> None:  # noqa: F811
    org = uuid.uuid4()
    cluster = await kubernetes_cluster(catalog, org)
    pid = (await catalog.api.post(f"/organization/{org}/project", json={"name": "p"})).json()["id"]
    r = await catalog.api.post(f"/project/{pid}/environment", json={"name": "k8s", "cluster": cluster})
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    on_default = (await catalog.api.post(f"/project/{pid}/environment", json={"name": "local"})).json()["id"]
    registry = (await catalog.api.get(f"/organization/{org}/containerRegistry")).json()["results"][0]["id"]
    r = await catalog.api.post(
        f"/environment/{eid}/container",
        json={
            "name": "web",
            "registry_id": registry,
            "image_name": "nginx",
            "tag": "1.27",
            "ports": [{"internal_port": 80, "publicly_accessible": True, "protocol": "HTTP"}],
            "storage": [{"type": "FAST_SSD", "size": 10, "mount_point": "/data"}],
            "healthchecks": {},
        },
    )
    assert r.status_code == 201, r.text

    before = await snapshot(catalog, eid)
    assert (before.cluster.ingress_class, before.cluster.ingress_issuer, before.cluster.storage_class) == (
        None,
        None,
        None,
    )
    sealed_before, _ = await sealed(catalog, f"environment/{eid}")
    listed = (await catalog.api.get(f"/organization/{org}/cluster")).json()
    events = await _outbox(catalog)

    assert (await catalog.api.put(url(org, cluster), json={**DEFAULTS, **CHOSEN})).status_code == 201
    after = await snapshot(catalog, eid)
    assert (after.cluster.ingress_class, after.cluster.ingress_issuer, after.cluster.storage_class) == (
        "nginx",
        "letsencrypt-prod",
        "fast.ssd-1",
    )
    assert after.version != before.version
    sealed_after, _ = await sealed(catalog, f"environment/{eid}")
    assert sealed_after.cluster.storage_class == "fast.ssd-1" and sealed_after.cluster.ingress_class == "nginx"
    # the rest of the state is the same: services, their digests, the rest of the cluster
    assert after.services == before.services
    assert [s.spec_digest for s in sealed_after.services] == [s.spec_digest for s in sealed_before.services]
    assert after.cluster.model_dump(exclude={"ingress_class", "ingress_issuer", "storage_class"}) == (
        before.cluster.model_dump(exclude={"ingress_class", "ingress_issuer", "storage_class"})
    )
    assert (await catalog.api.get(f"/organization/{org}/cluster")).json() == listed  # updated_at too
    assert await _outbox(catalog) == events  # no event: services pick the settings up at their next deploy

    # an issuer alone, and the environment on the local engine: None where nothing applies
    body = {**DEFAULTS, "slipway.ingress.cert_manager_cluster_issuer": "internal-ca"}
    assert (await catalog.api.put(url(org, cluster), json=body)).status_code == 201
    issuer_only = (await snapshot(catalog, eid)).cluster
    assert (issuer_only.ingress_class, issuer_only.ingress_issuer, issuer_only.storage_class) == (
        None,
        "internal-ca",
        None,
    )
    local = (await snapshot(catalog, on_default)).cluster
    assert local.engine == "podman" and (local.ingress_class, local.ingress_issuer, local.storage_class) == (
        None,
        None,
        None,
    )
