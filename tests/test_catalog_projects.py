"""Projects, environments and deployment stages through the gateway, with the real iam and catalog."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from iam.roles import policy
from slipway_stack.qovery_spec import check

from .conftest import Platform, run_platform


@pytest.fixture
async def platform(database_url: str, nats_server):  # type: ignore[no-untyped-def]
    async with run_platform(database_url, nats_server.url, with_catalog=True) as p:
        yield p


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_project_environment_lifecycle_matches_the_spec(platform: Platform, spec: dict[str, Any]) -> None:
    api = platform.api
    owner = bearer(await platform.signup("cat@example.com"))
    org = (await api.post("/organization", json={"name": "cat", "plan": "FREE"}, headers=owner)).json()["id"]

    project = check(
        spec,
        "createProject",
        await api.post(f"/organization/{org}/project", headers=owner, json={"name": "Shop", "description": "web shop"}),
    )
    assert project["organization"]["id"] == org and project["associated_environments_count"] == 0
    r = await api.post(f"/organization/{org}/project", headers=owner, json={"name": "SHOP"})
    assert r.status_code == 409 and "already taken" in r.json()["detail"]
    check(spec, "listProject", await api.get(f"/organization/{org}/project", headers=owner))
    pid = project["id"]
    check(spec, "getProject", await api.get(f"/project/{pid}", headers=owner))
    check(spec, "editProject", await api.put(f"/project/{pid}", headers=owner, json={"name": "Shop2"}))

    # right after creating the organization: its default cluster is there (read-your-writes)
    env = check(
        spec,
        "createEnvironment",
        await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "prod", "mode": "PRODUCTION"}),
    )
    assert env["mode"] == "PRODUCTION" and env["project"]["id"] == pid and env["cluster_name"]
    bad = await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "p", "mode": "PREVIEW"})
    assert bad.status_code == 400 and "mode" in bad.json()["detail"]
    bad = await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "p", "cluster": str(uuid.uuid4())})
    assert bad.status_code == 400 and "cluster" in bad.json()["detail"]
    assert (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "PROD"})).status_code == 409
    eid = env["id"]
    check(spec, "listEnvironment", await api.get(f"/project/{pid}/environment", headers=owner))
    check(spec, "getEnvironment", await api.get(f"/environment/{eid}", headers=owner))
    edited = check(
        spec, "editEnvironment", await api.put(f"/environment/{eid}", headers=owner, json={"mode": "STAGING"})
    )
    assert edited["mode"] == "STAGING" and edited["name"] == "prod"
    stages = check(
        spec, "ListEnvironmentDeploymentStage", await api.get(f"/environment/{eid}/deploymentStage", headers=owner)
    )
    assert [s["name"] for s in stages["results"]] == [
        "DATABASE DEFAULT",
        "JOB DEFAULT",
        "CONTAINER DEFAULT",
        "APPLICATION DEFAULT",
    ]
    stage = check(
        spec,
        "CreateEnvironmentDeploymentStage",
        await api.post(
            f"/environment/{eid}/deploymentStage", headers=owner, json={"name": "migrations", "description": None}
        ),
    )
    assert stage["deployment_order"] == 5
    assert (
        await api.post(f"/environment/{eid}/deploymentStage", headers=owner, json={"name": "migrations"})
    ).status_code == 409

    check(spec, "deleteEnvironment", await api.delete(f"/environment/{eid}", headers=owner))
    assert (await api.get(f"/environment/{eid}", headers=owner)).status_code == 404
    check(spec, "deleteProject", await api.delete(f"/project/{pid}", headers=owner))
    assert (await api.get(f"/project/{pid}", headers=owner)).status_code == 404


async def test_roles_and_organizations_apply_to_real_projects(platform: Platform) -> None:
    api = platform.api
    owner = bearer(await platform.signup("o@example.com"))
    viewer_tokens = await platform.signup("v@example.com")
    viewer = bearer(viewer_tokens)
    stranger = bearer(await platform.signup("s@example.com"))
    org = (await api.post("/organization", json={"name": "roles", "plan": "FREE"}, headers=owner)).json()["id"]
    invite = (
        await api.post(
            f"/organization/{org}/inviteMember",
            headers=owner,
            json={"email": "v@example.com", "role_id": str(policy.VIEWER)},
        )
    ).json()
    await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=viewer)
    pid = (await api.post(f"/organization/{org}/project", headers=owner, json={"name": "p"})).json()["id"]
    eid = (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "dev"})).json()["id"]

    assert (await api.get(f"/project/{pid}", headers=viewer)).status_code == 200
    assert (await api.get(f"/environment/{eid}", headers=viewer)).status_code == 200
    assert (await api.put(f"/project/{pid}", headers=viewer, json={"name": "x"})).status_code == 403
    assert (await api.post(f"/project/{pid}/environment", headers=viewer, json={"name": "e"})).status_code == 403
    assert (await api.delete(f"/environment/{eid}", headers=viewer)).status_code == 403
    for path in (f"/project/{pid}", f"/environment/{eid}", f"/environment/{eid}/deploymentStage"):
        r = await api.get(path, headers=stranger)
        assert r.status_code == 404, path
    missing = await api.get(f"/project/{uuid.uuid4()}", headers=stranger)
    assert missing.json()["detail"] == (await api.get(f"/project/{pid}", headers=stranger)).json()["detail"]


async def test_catalog_refuses_calls_without_a_signed_principal(platform: Platform) -> None:
    """Only the gateway (signed principal) and other services (service principal) get in."""
    from slipway.principal import HEADER, Principal, sign

    from .conftest import KEY

    assert platform.catalog_url is not None
    user = Principal(kind="user", subject="u", user_id=uuid.uuid4())
    async with httpx.AsyncClient(base_url=platform.catalog_url) as client:
        assert (await client.get(f"/organization/{uuid.uuid4()}/project")).status_code == 401
        assert (await client.get(f"/project/{uuid.uuid4()}", headers={HEADER: "forged.value"})).status_code == 401
        r = await client.get(f"/internal/scope/project/{uuid.uuid4()}", headers={HEADER: sign(user, KEY)})
        assert r.status_code == 403  # a user's principal cannot use internal routes


async def test_deployment_stages_by_id(platform: Platform, spec: dict[str, Any]) -> None:
    api = platform.api
    owner = bearer(await platform.signup("stages@example.com"))
    org = (await api.post("/organization", json={"name": "st", "plan": "FREE"}, headers=owner)).json()["id"]
    pid = (await api.post(f"/organization/{org}/project", headers=owner, json={"name": "p"})).json()["id"]
    eid = (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "e"})).json()["id"]
    other = (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "f"})).json()["id"]
    db, job, container, app = (await api.get(f"/environment/{eid}/deploymentStage", headers=owner)).json()["results"]
    foreign = (await api.get(f"/environment/{other}/deploymentStage", headers=owner)).json()["results"][0]

    check(spec, "getDeploymentStage", await api.get(f"/deploymentStage/{db['id']}", headers=owner))
    edited = check(
        spec,
        "EditDeploymentStage",
        await api.put(
            f"/deploymentStage/{db['id']}", headers=owner, json={"name": "databases", "description": "first"}
        ),
    )
    assert edited["name"] == "databases" and edited["description"] == "first"
    dup = await api.put(f"/deploymentStage/{db['id']}", headers=owner, json={"name": job["name"]})
    assert dup.status_code == 409
    moved = check(
        spec,
        "MoveAfterDeploymentStage",
        await api.put(f"/deploymentStage/{db['id']}/moveAfter/{container['id']}", headers=owner),
    )
    assert [s["id"] for s in moved["results"]] == [job["id"], container["id"], db["id"], app["id"]]
    assert [s["deployment_order"] for s in moved["results"]] == [1, 2, 3, 4]
    moved = check(
        spec,
        "MoveBeforeDeploymentStage",
        await api.put(f"/deploymentStage/{app['id']}/moveBefore/{job['id']}", headers=owner),
    )
    assert [s["id"] for s in moved["results"]] == [app["id"], job["id"], container["id"], db["id"]]
    across = await api.put(f"/deploymentStage/{app['id']}/moveBefore/{foreign['id']}", headers=owner)
    assert across.status_code == 400
    check(spec, "DeleteDeploymentStage", await api.delete(f"/deploymentStage/{job['id']}", headers=owner))
    left = (await api.get(f"/environment/{eid}/deploymentStage", headers=owner)).json()["results"]
    assert [s["deployment_order"] for s in left] == [1, 2, 3] and job["id"] not in [s["id"] for s in left]
    stranger = bearer(await platform.signup("nostage@example.com"))
    assert (await api.get(f"/deploymentStage/{db['id']}", headers=stranger)).status_code == 404
    assert (await api.delete(f"/deploymentStage/{db['id']}", headers=stranger)).status_code == 404


async def test_clone_environment_and_deployment_rule(platform: Platform, spec: dict[str, Any]) -> None:
    api = platform.api
    owner = bearer(await platform.signup("clone@example.com"))
    org = (await api.post("/organization", json={"name": "cl", "plan": "FREE"}, headers=owner)).json()["id"]
    pid = (await api.post(f"/organization/{org}/project", headers=owner, json={"name": "p"})).json()["id"]
    pid2 = (await api.post(f"/organization/{org}/project", headers=owner, json={"name": "q"})).json()["id"]
    eid = (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "blue"})).json()["id"]
    await api.post(f"/environment/{eid}/deploymentStage", headers=owner, json={"name": "extra"})

    rule = check(
        spec, "getEnvironmentDeploymentRule", await api.get(f"/environment/{eid}/deploymentRule", headers=owner)
    )
    assert rule["weekdays"] == ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    edited = check(
        spec,
        "editEnvironmentDeploymentRule",
        await api.put(
            f"/environment/{eid}/deploymentRule/{rule['id']}",
            headers=owner,
            json={
                "auto_preview": True,
                "on_demand_preview": True,
                "auto_stop": True,
                "timezone": "Europe/Paris",
                "start_time": "1970-01-01T07:30:00.000Z",
                "stop_time": "1970-01-01T20:00:00.000Z",
                "weekdays": ["MONDAY", "SATURDAY"],
            },
        ),
    )
    assert edited["auto_preview"] and edited["start_time"] == "1970-01-01T07:30:00.000Z"
    bad = await api.put(
        f"/environment/{eid}/deploymentRule/{rule['id']}",
        headers=owner,
        json={
            "timezone": "Mars/Olympus",
            "start_time": "1970-01-01T07:30:00Z",
            "stop_time": "1970-01-01T20:00:00Z",
            "weekdays": ["MONDAY"],
        },
    )
    assert bad.status_code == 400 and "time zone" in bad.json()["detail"]
    wrong = await api.put(
        f"/environment/{eid}/deploymentRule/{uuid.uuid4()}",
        headers=owner,
        json={
            "timezone": "UTC",
            "start_time": "1970-01-01T07:30:00Z",
            "stop_time": "1970-01-01T20:00:00Z",
            "weekdays": [],
        },
    )
    assert wrong.status_code == 404

    preview = check(
        spec,
        "cloneEnvironment",
        await api.post(
            f"/environment/{eid}/clone",
            headers=owner,
            json={"name": "pr-42", "mode": "PREVIEW", "apply_deployment_rule": True},
        ),
    )
    assert preview["mode"] == "PREVIEW" and preview["project"]["id"] == pid
    stages = (await api.get(f"/environment/{preview['id']}/deploymentStage", headers=owner)).json()["results"]
    assert [s["name"] for s in stages][-1] == "extra" and len(stages) == 5
    copied = (await api.get(f"/environment/{preview['id']}/deploymentRule", headers=owner)).json()
    assert copied["timezone"] == "Europe/Paris" and copied["id"] != rule["id"]
    edit = await api.put(f"/environment/{preview['id']}", headers=owner, json={"mode": "PRODUCTION"})
    assert edit.status_code == 400  # a preview stays a preview
    assert (await api.post(f"/environment/{eid}/clone", headers=owner, json={"name": "PR-42"})).status_code == 409
    other = check(
        spec,
        "cloneEnvironment",
        await api.post(f"/environment/{eid}/clone", headers=owner, json={"name": "copy", "project_id": pid2}),
    )
    assert other["project"]["id"] == pid2 and other["mode"] == "DEVELOPMENT"

    # a custom role managing only the first project cannot clone into the second
    member_tokens = await platform.signup("cm@example.com")
    role = (await api.post(f"/organization/{org}/customRole", headers=owner, json={"name": "p-only"})).json()
    await api.put(
        f"/organization/{org}/customRole/{role['id']}",
        headers=owner,
        json={
            "name": "p-only",
            "cluster_permissions": [],
            "project_permissions": [{"project_id": pid, "is_admin": True, "permissions": []}],
        },
    )
    invite = (
        await api.post(
            f"/organization/{org}/inviteMember", headers=owner, json={"email": "cm@example.com", "role_id": role["id"]}
        )
    ).json()
    member = bearer(member_tokens)
    await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=member)
    assert (await api.post(f"/environment/{eid}/clone", headers=member, json={"name": "mine"})).status_code == 202
    r = await api.post(f"/environment/{eid}/clone", headers=member, json={"name": "theirs", "project_id": pid2})
    assert r.status_code == 403
    stranger_org = (
        await api.post(
            "/organization", json={"name": "x", "plan": "FREE"}, headers=bearer(await platform.signup("xx@example.com"))
        )
    ).json()["id"]
    assert stranger_org  # a project id from another organization reads as unknown
    r = await api.post(
        f"/environment/{eid}/clone", headers=owner, json={"name": "far", "project_id": str(uuid.uuid4())}
    )
    assert r.status_code == 404


async def test_containers_through_the_gateway(platform: Platform, spec: dict[str, Any]) -> None:
    api = platform.api
    owner = bearer(await platform.signup("box@example.com"))
    viewer_tokens = await platform.signup("boxview@example.com")
    viewer = bearer(viewer_tokens)
    stranger = bearer(await platform.signup("boxout@example.com"))
    org = (await api.post("/organization", json={"name": "box", "plan": "FREE"}, headers=owner)).json()["id"]
    invite = (
        await api.post(
            f"/organization/{org}/inviteMember",
            headers=owner,
            json={"email": "boxview@example.com", "role_id": str(policy.VIEWER)},
        )
    ).json()
    await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=viewer)
    pid = (await api.post(f"/organization/{org}/project", headers=owner, json={"name": "p"})).json()["id"]
    eid = (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "dev"})).json()["id"]
    [registry] = (await api.get(f"/organization/{org}/containerRegistry", headers=owner)).json()["results"]
    container = {"name": "web", "registry_id": registry["id"], "image_name": "nginx", "tag": "1.27"}

    created = check(
        spec, "createContainer", await api.post(f"/environment/{eid}/container", headers=owner, json=container)
    )
    cid = created["id"]
    assert created["registry"]["id"] == registry["id"] and created["environment"]["id"] == eid
    listed = check(spec, "listContainer", await api.get(f"/environment/{eid}/container", headers=viewer))
    assert [c["id"] for c in listed["results"]] == [cid]
    assert check(spec, "getContainer", await api.get(f"/container/{cid}", headers=viewer))["name"] == "web"
    stage = check(spec, "getServiceDeploymentStage", await api.get(f"/service/{cid}/deploymentStage", headers=viewer))
    assert stage["name"] == "CONTAINER DEFAULT" and [s["service_id"] for s in stage["services"]] == [cid]

    r = await api.post(f"/environment/{eid}/container", headers=viewer, json={**container, "name": "other"})
    assert r.status_code == 403
    assert (await api.put(f"/container/{cid}", headers=viewer, json={**container, "tag": "2"})).status_code == 403
    assert (await api.delete(f"/container/{cid}", headers=viewer)).status_code == 403
    r = await api.put(f"/deploymentStage/{stage['id']}/service/{cid}", headers=viewer, json={"is_skipped": True})
    assert r.status_code == 403
    for path in (f"/container/{cid}", f"/environment/{eid}/container", f"/service/{cid}/deploymentStage"):
        assert (await api.get(path, headers=stranger)).status_code == 404, path
    assert (await api.delete(f"/container/{cid}", headers=stranger)).status_code == 404
    assert (await api.get(f"/container/{cid}", headers=owner)).json()["tag"] == "1.27"  # nothing changed

    edited = check(
        spec, "editContainer", await api.put(f"/container/{cid}", headers=owner, json={**container, "tag": "2"})
    )
    assert edited["tag"] == "2"
    check(spec, "deleteContainer", await api.delete(f"/container/{cid}", headers=owner))
    assert (await api.get(f"/container/{cid}", headers=owner)).status_code == 404


async def test_an_alias_needs_the_right_to_manage_where_it_lands(platform: Platform, spec: dict[str, Any]) -> None:
    """A project variable aliased into an environment: the destination's mode decides, not only the target's."""
    api = platform.api
    owner = bearer(await platform.signup("va@example.com"))
    org = (await api.post("/organization", json={"name": "vars", "plan": "FREE"}, headers=owner)).json()["id"]
    pid = (await api.post(f"/organization/{org}/project", headers=owner, json={"name": "p"})).json()["id"]
    dev = (await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "dev"})).json()["id"]
    prod = (
        await api.post(f"/project/{pid}/environment", headers=owner, json={"name": "prod", "mode": "PRODUCTION"})
    ).json()["id"]
    shared = check(
        spec,
        "createVariable",
        await api.post(
            "/variable",
            headers=owner,
            json={
                "key": "API_URL",
                "value": "https://api",
                "is_secret": False,
                "variable_scope": "PROJECT",
                "variable_parent_id": pid,
            },
        ),
    )
    role = (await api.post(f"/organization/{org}/customRole", headers=owner, json={"name": "dev-only"})).json()
    await api.put(
        f"/organization/{org}/customRole/{role['id']}",
        headers=owner,
        json={
            "name": "dev-only",
            "cluster_permissions": [],
            "project_permissions": [
                {
                    "project_id": pid,
                    "is_admin": False,
                    "permissions": [
                        {"environment_type": "DEVELOPMENT", "permission": "MANAGER"},
                        {"environment_type": "PRODUCTION", "permission": "VIEWER"},
                    ],
                }
            ],
        },
    )
    member_tokens = await platform.signup("vm@example.com")
    invite = (
        await api.post(
            f"/organization/{org}/inviteMember", headers=owner, json={"email": "vm@example.com", "role_id": role["id"]}
        )
    ).json()
    member = bearer(member_tokens)
    await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=member)

    into_prod = {"key": "PROD_API", "alias_scope": "ENVIRONMENT", "alias_parent_id": prod}
    assert (await api.post(f"/variable/{shared['id']}/alias", headers=member, json=into_prod)).status_code == 403
    into_dev = {"key": "DEV_API", "alias_scope": "ENVIRONMENT", "alias_parent_id": dev}
    check(spec, "createVariableAlias", await api.post(f"/variable/{shared['id']}/alias", headers=member, json=into_dev))
    override = {"value": "https://prod", "override_scope": "ENVIRONMENT", "override_parent_id": prod}
    assert (await api.post(f"/variable/{shared['id']}/override", headers=member, json=override)).status_code == 403
    check(spec, "createVariableAlias", await api.post(f"/variable/{shared['id']}/alias", headers=owner, json=into_prod))


async def test_cluster_advanced_settings_follow_the_cluster_roles(platform: Platform, spec: dict[str, Any]) -> None:
    """Members read them, Admin and DevOps edit them (like the cluster itself); other organizations see nothing."""
    api = platform.api
    owner = bearer(await platform.signup("adv@example.com"))
    stranger = bearer(await platform.signup("advout@example.com"))
    org = (await api.post("/organization", json={"name": "adv", "plan": "FREE"}, headers=owner)).json()["id"]
    members = {}
    for name, role in (("viewer", policy.VIEWER), ("devops", policy.DEVOPS), ("admin", policy.ADMIN)):
        headers = bearer(await platform.signup(f"adv{name}@example.com"))
        invite = (
            await api.post(
                f"/organization/{org}/inviteMember",
                headers=owner,
                json={"email": f"adv{name}@example.com", "role_id": str(role)},
            )
        ).json()
        assert (await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=headers)).status_code == 201
        members[name] = headers
    cluster = (
        await api.post(
            f"/organization/{org}/cluster",
            headers=owner,
            json={"name": "k8s", "region": "home", "cloud_provider": "ON_PREMISE", "kubernetes": "SELF_MANAGED"},
        )
    ).json()["id"]
    url = f"/organization/{org}/cluster/{cluster}/advancedSettings"
    defaults = check(
        spec, "getDefaultClusterAdvancedSettings", await api.get("/defaultClusterAdvancedSettings", headers=stranger)
    )
    assert (await api.get("/defaultClusterAdvancedSettings")).status_code == 401

    assert check(spec, "getClusterAdvancedSettings", await api.get(url, headers=members["viewer"])) == defaults
    chosen = {**defaults, "slipway.ingress.class_name": "nginx"}
    r = await api.put(url, headers=members["viewer"], json=chosen)
    assert r.status_code == 403 and r.json()["status"] == 403, r.text
    for name, class_name in (("devops", "nginx"), ("admin", "traefik")):
        body = {**defaults, "slipway.ingress.class_name": class_name}
        assert check(spec, "editClusterAdvancedSettings", await api.put(url, headers=members[name], json=body)) == body
    bad = await api.put(url, headers=owner, json={**defaults, "slipway.ingress.class_name": "Not_DNS"})
    assert bad.status_code == 400 and "slipway.ingress.class_name" in bad.json()["detail"], bad.text
    # another organization's member: the 404 of every cluster route
    like = await api.get(f"/organization/{org}/cluster/{cluster}/kubeconfig", headers=stranger)
    assert like.status_code == 404, like.text
    for method in ("GET", "PUT"):
        r = await api.request(method, url, headers=stranger, json=chosen if method == "PUT" else None)
        assert r.status_code == 404 and r.json()["detail"] == like.json()["detail"], r.text
    assert (await api.get(url, headers=owner)).json()["slipway.ingress.class_name"] == "traefik"  # nothing changed
