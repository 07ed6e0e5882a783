"""Access matrix: every public route × {own organization, another} × every kind of principal.

No cross-organization request ever succeeds, and no principal acts above its role. iam and the
gateway are real; the resources catalog and the deployer will own (projects, environments,
services…) are described by a stand-in serving only their `/internal/scope` lookups, since those
services do not store them yet — every other request reaching a stand-in answers "not built" (501),
which proves authorization let it through.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.routetable import ROUTES
from gateway.routing import EXTENSIONS
from iam.roles import policy

from .conftest import PASSWORD, run_platform

DEPLOY_SUFFIXES = (
    "/deploy",
    "/redeploy",
    "/restart-service",
    "/stop",
    "/uninstall",
    "/cancelDeployment",
    "/service/delete",
)


@dataclass
class World:
    api: httpx.AsyncClient
    orgs: dict[str, str]  # "A" / "B" -> id
    ids: dict[str, str]  # named resources in organization A
    other: dict[str, str]  # the same kinds of resources in organization B
    principals: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> headers


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ok(r: httpx.Response, *codes: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code in (codes or (200, 201)), r.text
    return r.json() if r.content else {}


async def user(api: httpx.AsyncClient, email: str) -> dict[str, str]:
    tokens = await ok(await api.post("/auth/signup", json={"email": email, "password": PASSWORD}), 201)
    return bearer(tokens["access_token"])


@pytest.fixture(scope="module")
async def world(pg_server, tmp_path_factory) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    from slipway_stack.natsserver import NatsServer
    from slipway_stack.procs import free_port
    from slipway_stack.testing import create_database, start_nats

    root = tmp_path_factory.mktemp("matrix-nats")
    nats = NatsServer(root / "store", free_port(), root / "nats.log", root / "nats.pid")
    start_nats(nats)
    try:
        # decisions and scopes cached as in production: the matrix asks the same things many times
        async with run_platform(create_database(pg_server), nats.url, decision_cache_seconds=2.0) as platform:
            yield await _populate(platform.api, platform.scopes)
    finally:
        nats.stop()


async def _populate(api: httpx.AsyncClient, scopes: dict[str, dict[str, str]]) -> World:
    owner, outsider = await user(api, "owner@a.io"), await user(api, "owner@b.io")
    org_a = (await ok(await api.post("/organization", json={"name": "A", "plan": "FREE"}, headers=owner), 201))["id"]
    org_b = (await ok(await api.post("/organization", json={"name": "B", "plan": "FREE"}, headers=outsider), 201))["id"]

    def resources(org: str) -> dict[str, str]:
        ids = {
            k: str(uuid.uuid4())
            for k in (
                "cluster",
                "project",
                "env_dev",
                "env_prod",
                "svc_dev",
                "svc_prod",
                "stage",
                "variable",
                "request",
            )
        }
        base = {"organization_id": org, "cluster_id": ids["cluster"], "project_id": ids["project"]}
        scopes[f"project:{ids['project']}"] = {"organization_id": org, "project_id": ids["project"]}
        scopes[f"cluster:{ids['cluster']}"] = {"organization_id": org, "cluster_id": ids["cluster"]}
        dev, prod = {**base, "environment_mode": "DEVELOPMENT"}, {**base, "environment_mode": "PRODUCTION"}
        for key, value in (
            ("environment:" + ids["env_dev"], dev),
            ("environment:" + ids["env_prod"], prod),
            ("service:" + ids["svc_dev"], dev),
            ("service:" + ids["svc_prod"], prod),
            ("stage:" + ids["stage"], dev),
            ("variable:" + ids["variable"], dev),
            ("deployment-request:" + ids["request"], dev),
        ):
            scopes[key] = value
        return ids

    ids, other = resources(org_a), resources(org_b)
    world = World(api, {"A": org_a, "B": org_b}, ids, other)
    world.principals.update({"owner": owner, "outsider": outsider})

    roles = {
        "admin": policy.ADMIN,
        "devops": policy.DEVOPS,
        "viewer": policy.VIEWER,
        "billing": policy.BILLING_MANAGER,
    }
    grants = await ok(
        await api.post(f"/organization/{org_a}/customRole", json={"name": "dev-team"}, headers=owner), 201
    )
    await ok(
        await api.put(
            f"/organization/{org_a}/customRole/{grants['id']}",
            headers=owner,
            json={
                "name": "dev-team",
                "cluster_permissions": [{"cluster_id": ids["cluster"], "permission": "ENV_CREATOR"}],
                "project_permissions": [
                    {
                        "project_id": ids["project"],
                        "is_admin": False,
                        "permissions": [
                            {"environment_type": "DEVELOPMENT", "permission": "MANAGER"},
                            {"environment_type": "PRODUCTION", "permission": "VIEWER"},
                        ],
                    }
                ],
            },
        )
    )
    empty = await ok(await api.post(f"/organization/{org_a}/customRole", json={"name": "nothing"}, headers=owner), 201)
    roles.update({"custom_grants": uuid.UUID(grants["id"]), "custom_none": uuid.UUID(empty["id"])})
    for name, role_id in roles.items():
        headers = await user(api, f"{name}@a.io")
        invite = await ok(
            await api.post(
                f"/organization/{org_a}/inviteMember",
                headers=owner,
                json={"email": f"{name}@a.io", "role_id": str(role_id)},
            ),
            201,
        )
        await ok(await api.post(f"/organization/{org_a}/inviteMember/{invite['id']}", headers=headers), 201)
        world.principals[name] = headers
    for name, role_id in (("token_viewer", policy.VIEWER), ("token_devops", policy.DEVOPS)):
        created = await ok(
            await api.post(
                f"/organization/{org_a}/apiToken", headers=owner, json={"name": name, "role_id": str(role_id)}
            ),
            201,
        )
        world.principals[name] = auth(created["token"])
    return world


# -- the test's own statement of who may do what (Qovery's documented roles) ------------------------------
def category(method: str, template: str) -> str:
    t = template
    write = method != "GET"
    if t == "/organization/{id}":
        return {"GET": "org.read", "PUT": "org.edit"}.get(method, "org.delete")
    if t.startswith("/organization/{id}/apiToken"):
        return "tokens"
    if t.startswith(
        (
            "/organization/{id}/availableRole",
            "/organization/{id}/member",
            "/organization/{id}/customRole",
            "/organization/{id}/inviteMember",
        )
    ):
        return "members.manage" if write else "members.read"
    if t.endswith("transferOwnership"):
        return "org.transfer"
    if t.endswith("auditLog"):
        return "audit"
    if t.startswith("/slipway/organization/{id}/gitWebhook"):
        return "settings.manage"  # the receivers' secrets: reading them is managing the organization
    if t.startswith("/organization/{id}/cluster"):
        if t.endswith("kubeconfig") or write:
            return "cluster.admin"
        return (
            "cluster.list"
            if t in ("/organization/{id}/cluster", "/organization/{id}/cluster/status")
            else "cluster.read"
        )
    if t == "/organization/{id}/project":
        return "project.create" if write else "org.read"
    if t == "/organization/{id}/container/preview":
        return "project.create"
    if t.startswith("/organization/{id}/"):
        return "settings.manage" if write else "settings.read"
    if t == "/cluster/{id}/token":
        return "cluster.read"
    if t.startswith("/project/"):
        if t == "/project/{id}/environment" and write:
            return "env.create"
        return "project.manage" if write else "project.read"
    if write and t.endswith(DEPLOY_SUFFIXES) or t.startswith("/deploymentQueue"):
        return "env.deploy"
    return "env.manage" if write else "env.read"


READS = {"org.read", "members.read", "settings.read", "cluster.list", "cluster.read", "project.read", "env.read"}
ALLOWED = {
    "owner": None,  # everything
    "admin": {"*"} - {"org.delete", "org.transfer"},
    "devops": READS
    | {
        "settings.manage",
        "cluster.admin",
        "project.create",
        "project.manage",
        "env.create",
        "env.deploy",
        "env.manage",
    },
    "viewer": READS,
    "token_viewer": READS,
    "billing": {"org.read"},
    "custom_none": {"org.read", "members.read", "settings.read", "cluster.list"},
}
ALLOWED["token_devops"] = ALLOWED["devops"]


def expected(principal: str, cat: str, mode: str | None) -> bool:
    if principal == "owner":
        return True
    if principal == "admin":
        return cat not in ("org.delete", "org.transfer")
    if principal == "custom_grants":
        base = {
            "org.read",
            "members.read",
            "settings.read",
            "cluster.list",
            "cluster.read",
            "project.read",
            "env.create",
        }
        if mode == "DEVELOPMENT":
            base |= {"env.read", "env.deploy", "env.manage"}
        if mode == "PRODUCTION":
            base |= {"env.read"}
        return cat in base
    return cat in ALLOWED[principal]  # type: ignore[operator]


def requests_for(world: World, org: str, both_modes: bool) -> list[tuple[str, str, str, str | None, dict]]:  # type: ignore[type-arg]
    """(method, template, concrete path, environment mode, extra) for every route, in organization `org`."""
    ids = world.ids if org == "A" else world.other
    out = []
    table = {svc: dict(routes) for svc, routes in ROUTES.items()}
    for svc, routes in EXTENSIONS.items():
        table.setdefault(svc, {}).update(routes)
    for routes in table.values():
        for template, methods in routes.items():
            if "{id}" not in template and not template.startswith("/variable"):
                continue  # no organization scope (/organization, /account, static listings): tested on their own
            for method in methods.split():
                if template == "/organization/{id}" and method == "DELETE":
                    continue  # destructive: covered by test_only_the_owner_deletes_an_organization
                if template == "/organization/{id}/inviteMember/{id}" and method == "POST":
                    continue  # accepting an invitation is for the invitee, tested in its own test
                modes = _modes(template)
                for mode in modes if both_modes else modes[-1:]:
                    out.append((method, template, _concrete(template, ids, world.orgs[org], mode), mode, {}))
    return out


def _modes(template: str) -> list[str | None]:
    first = template.strip("/").split("/")[0]
    if first in ("environment", "application", "container", "database", "job", "helm", "terraform", "service"):
        return ["DEVELOPMENT", "PRODUCTION"]
    if first in ("deploymentStage", "deploymentQueue", "variable"):
        return ["DEVELOPMENT"]
    return [None]


def _concrete(template: str, ids: dict[str, str], org: str, mode: str | None) -> str:
    first = template.strip("/").split("/")[0]
    env = ids["env_dev"] if mode == "DEVELOPMENT" else ids["env_prod"]
    svc = ids["svc_dev"] if mode == "DEVELOPMENT" else ids["svc_prod"]
    primary = {
        "organization": org,
        "project": ids["project"],
        "environment": env,
        "cluster": ids["cluster"],
        "deploymentStage": ids["stage"],
        "deploymentQueue": ids["request"],
        "variable": ids["variable"],
        "slipway": None,
    }.get(first, svc)
    parts, n = [], 0
    for seg in template.strip("/").split("/"):
        if seg == "{id}":
            n += 1
            if n == 1:
                parts.append(primary or org)
            elif first == "organization" and "/cluster/" in template and n == 2:
                parts.append(ids["cluster"])
            else:
                parts.append(str(uuid.uuid4()))
        else:
            parts.append(seg)
    return "/" + "/".join(parts)


def body_for(method: str, template: str, ids: dict[str, str], mode: str | None) -> dict | None:  # type: ignore[type-arg]
    if method == "GET":
        return None
    if template == "/variable":
        env = ids["env_dev"] if mode == "DEVELOPMENT" else ids["env_prod"]
        return {"variable_scope": "ENVIRONMENT", "variable_parent_id": env}
    return {}


DENIAL_404 = (
    "organization not found",
    "project not found",
    "environment not found",
    "application not found",
    "container not found",
    "database not found",
    "job not found",
    "helm not found",
    "terraform not found",
    "service not found",
    "deploymentStage not found",
    "deploymentQueue not found",
    "variable not found",
    "cluster not found",
    "slipway not found",
)


def denied(r: httpx.Response) -> bool:
    if r.status_code == 403:
        return True
    return r.status_code == 404 and r.json().get("detail") in DENIAL_404


async def run_matrix(world: World, org: str) -> list[str]:
    semaphore = asyncio.Semaphore(8)
    problems: list[str] = []
    ids = world.ids if org == "A" else world.other

    async def one(name: str, headers: dict[str, str], method: str, template: str, path: str, mode: str | None) -> None:
        env = ids["env_dev" if mode == "DEVELOPMENT" else "env_prod"]
        params = None
        if template == "/variable" and method == "GET":
            params = {"scope": "ENVIRONMENT", "parent_id": env}
        elif template == "/variable/import":
            params = {
                "service_id": ids["svc_dev" if mode == "DEVELOPMENT" else "svc_prod"],
                "service_type": "APPLICATION",
            }
        async with semaphore:
            r = await world.api.request(
                method, path, headers=headers, json=body_for(method, template, ids, mode), params=params
            )
        if r.status_code >= 500 and r.status_code != 501:
            problems.append(f"{name} {method} {path}: server error {r.status_code} {r.text[:200]}")
            return
        if org == "B":
            if not (r.status_code == 404 and denied(r)) and name != "outsider":
                problems.append(f"CROSS-ORG {name} {method} {template} -> {r.status_code} {r.text[:120]}")
            return
        want = expected(name, category(method, template), mode)
        if want and denied(r):
            problems.append(f"{name} refused {method} {template} [{mode}] -> {r.status_code} {r.text[:120]}")
        if not want and not denied(r):
            problems.append(f"{name} ALLOWED {method} {template} [{mode}] -> {r.status_code} {r.text[:120]}")

    cross = {"owner", "admin", "custom_grants", "token_devops"}  # the broadest powers of each kind in A
    jobs = [
        one(name, headers, m, t, p, mode)
        for name, headers in world.principals.items()
        if (org == "A" and name != "outsider") or (org == "B" and name in cross)
        # environment modes only change the outcome for custom roles; built-ins see production only
        for (m, t, p, mode, _) in requests_for(world, org, both_modes=name.startswith("custom"))
    ]
    await asyncio.gather(*jobs)
    return problems


async def test_matrix_in_own_organization(world: World) -> None:
    problems = await run_matrix(world, "A")
    assert not problems, "\n".join(sorted(problems)[:40])


async def test_no_cross_organization_success(world: World) -> None:
    """Every principal of organization A against every route of organization B: always 404."""
    problems = await run_matrix(world, "B")
    assert not problems, "\n".join(sorted(problems)[:40])


async def test_outsider_never_sees_organization_a(world: World) -> None:
    api, outsider = world.api, world.principals["outsider"]
    listed = (await ok(await api.get("/organization", headers=outsider)))["results"]
    assert [o["id"] for o in listed] == [world.orgs["B"]]
    r = await api.get(f"/organization/{world.orgs['A']}", headers=outsider)
    assert r.status_code == 404
    missing = await api.get(f"/organization/{uuid.uuid4()}", headers=outsider)
    assert missing.json()["detail"] == r.json()["detail"]  # indistinguishable from a missing one


async def test_organization_bound_token_sees_only_its_organization(world: World) -> None:
    listed = (await ok(await world.api.get("/organization", headers=world.principals["token_viewer"])))["results"]
    assert [o["id"] for o in listed] == [world.orgs["A"]]
    r = await world.api.post(
        "/organization", json={"name": "x", "plan": "FREE"}, headers=world.principals["token_viewer"]
    )
    assert r.status_code == 403


async def test_only_an_owner_grants_owner(world: World) -> None:
    api, org = world.api, world.orgs["A"]
    r = await api.post(
        f"/organization/{org}/apiToken",
        headers=world.principals["admin"],
        json={"name": "escalate", "role_id": str(policy.OWNER)},
    )
    assert r.status_code == 403
    r = await api.post(
        f"/organization/{org}/inviteMember",
        headers=world.principals["admin"],
        json={"email": "boss@a.io", "role_id": str(policy.OWNER)},
    )
    assert r.status_code == 403


async def test_only_the_owner_deletes_an_organization(world: World) -> None:
    api, owner = world.api, world.principals["owner"]
    org = (await ok(await api.post("/organization", json={"name": "doomed", "plan": "FREE"}, headers=owner), 201))["id"]
    admin_email = "admin2@a.io"
    admin = await user(api, admin_email)
    invite = await ok(
        await api.post(
            f"/organization/{org}/inviteMember",
            headers=owner,
            json={"email": admin_email, "role_id": str(policy.ADMIN)},
        ),
        201,
    )
    await ok(await api.post(f"/organization/{org}/inviteMember/{invite['id']}", headers=admin), 201)
    assert (await api.delete(f"/organization/{org}", headers=admin)).status_code == 403
    assert (await api.delete(f"/organization/{org}", headers=world.principals["outsider"])).status_code == 404
    assert (await api.delete(f"/organization/{org}", headers=owner)).status_code == 204
    assert (await api.get(f"/organization/{org}", headers=owner)).status_code == 404
    assert (await api.get(f"/organization/{org}", headers=admin)).status_code == 404
