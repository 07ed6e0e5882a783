"""iam's Qovery operations answer the spec's status codes and bodies that validate against its schemas."""

from __future__ import annotations

import uuid
from typing import Any

from iam.roles import policy
from slipway_stack.qovery_spec import check, operation

from .conftest import Platform


async def test_iam_operations_match_the_spec(platform: Platform, spec: dict[str, Any]) -> None:
    api = platform.api
    owner = {"Authorization": f"Bearer {(await platform.signup('conf@example.com'))['access_token']}"}
    invitee_tokens = await platform.signup("joiner@example.com")
    invitee = {"Authorization": f"Bearer {invitee_tokens['access_token']}"}

    org = check(
        spec,
        "createOrganization",
        await api.post(
            "/organization",
            headers=owner,
            json={"name": "Conformance", "plan": "FREE", "description": None, "website_url": None},
        ),
    )
    oid = org["id"]
    assert org["owner"] and org["plan"] == "FREE"
    check(spec, "listOrganization", await api.get("/organization", headers=owner))
    check(spec, "getOrganization", await api.get(f"/organization/{oid}", headers=owner))
    check(
        spec,
        "editOrganization",
        await api.put(f"/organization/{oid}", headers=owner, json={"name": "Conformance 2", "plan": "FREE"}),
    )
    token = check(
        spec,
        "createOrganizationApiToken",
        await api.post(f"/organization/{oid}/apiToken", headers=owner, json={"name": "ci", "role_id": None}),
    )
    assert token["token"].startswith("qov_") and token["role_name"] == "Admin"
    check(spec, "listOrganizationApiTokens", await api.get(f"/organization/{oid}/apiToken", headers=owner))
    roles = check(
        spec, "listOrganizationAvailableRoles", await api.get(f"/organization/{oid}/availableRole", headers=owner)
    )
    assert {r["name"] for r in roles["results"]} >= {"Owner", "Admin", "DevOps", "Billing Manager", "Viewer"}
    custom = check(
        spec,
        "createOrganizationCustomRole",
        await api.post(f"/organization/{oid}/customRole", headers=owner, json={"name": "ops", "description": "d"}),
    )
    check(
        spec,
        "editOrganizationCustomRole",
        await api.put(
            f"/organization/{oid}/customRole/{custom['id']}",
            headers=owner,
            json={
                "name": "ops",
                "description": "d",
                "cluster_permissions": [{"cluster_id": str(uuid.uuid4()), "permission": "ADMIN"}],
                "project_permissions": [{"project_id": str(uuid.uuid4()), "is_admin": True, "permissions": []}],
            },
        ),
    )
    check(spec, "listOrganizationCustomRoles", await api.get(f"/organization/{oid}/customRole", headers=owner))
    check(
        spec,
        "getOrganizationCustomRole",
        await api.get(f"/organization/{oid}/customRole/{custom['id']}", headers=owner),
    )
    invite = check(
        spec,
        "postInviteMember",
        await api.post(
            f"/organization/{oid}/inviteMember", headers=owner, json={"email": "joiner@example.com", "role": "VIEWER"}
        ),
    )
    check(spec, "getOrganizationInvitedMembers", await api.get(f"/organization/{oid}/inviteMember", headers=owner))
    check(spec, "getMemberInvitation", await api.get(f"/organization/{oid}/inviteMember/{invite['id']}", headers=owner))
    check(
        spec,
        "postAcceptInviteMember",
        await api.post(f"/organization/{oid}/inviteMember/{invite['id']}", headers=invitee),
    )
    members = check(spec, "getOrganizationMembers", await api.get(f"/organization/{oid}/member", headers=owner))
    joiner = next(m for m in members["results"] if m["email"] == "joiner@example.com")
    r = await api.put(
        f"/organization/{oid}/member", headers=owner, json={"user_id": joiner["id"], "role_id": str(policy.DEVOPS)}
    )
    check(spec, "editOrganizationMemberRole", r)
    assert r.content == b""
    check(spec, "getAccountInformation", await api.get("/account", headers=invitee))
    second = check(
        spec,
        "postInviteMember",
        await api.post(
            f"/organization/{oid}/inviteMember",
            headers=owner,
            json={"email": "later@example.com", "role_id": str(policy.VIEWER)},
        ),
    )
    check(
        spec, "deleteInviteMember", await api.delete(f"/organization/{oid}/inviteMember/{second['id']}", headers=owner)
    )
    check(
        spec,
        "deleteMember",
        await api.request("DELETE", f"/organization/{oid}/member", headers=owner, json={"user_id": joiner["id"]}),
    )
    check(
        spec,
        "deleteOrganizationCustomRole",
        await api.delete(f"/organization/{oid}/customRole/{custom['id']}", headers=owner),
    )
    check(
        spec,
        "deleteOrganizationApiToken",
        await api.delete(f"/organization/{oid}/apiToken/{token['id']}", headers=owner),
    )
    check(spec, "deleteOrganization", await api.delete(f"/organization/{oid}", headers=owner))


async def test_iam_error_statuses(platform: Platform, spec: dict[str, Any]) -> None:
    api = platform.api
    owner = {"Authorization": f"Bearer {(await platform.signup('errs@example.com'))['access_token']}"}
    bad = await api.post("/organization", headers=owner, json={"name": "x", "plan": "GOLD"})
    assert bad.status_code == 400 and "plan" in bad.json()["detail"]
    assert (await api.post("/organization", headers=owner, json={"plan": "FREE"})).status_code == 400
    oid = (await api.post("/organization", headers=owner, json={"name": "dup", "plan": "FREE"})).json()["id"]
    assert (await api.post("/organization", headers=owner, json={"name": "DUP", "plan": "FREE"})).status_code == 409
    r = await api.put(
        f"/organization/{oid}/customRole/{uuid.uuid4()}",
        headers=owner,
        json={
            "name": "x",
            "cluster_permissions": [{"cluster_id": str(uuid.uuid4()), "permission": "GOD"}],
            "project_permissions": [],
        },
    )
    assert r.status_code == 400  # enum checked before the lookup: the body is wrong whatever the id
    assert (await api.get(f"/organization/{oid}/customRole/{uuid.uuid4()}", headers=owner)).status_code == 404
    assert (await api.get("/organization/not-a-uuid", headers=owner)).status_code == 404
    for op in ("createOrganization", "createOrganizationApiToken", "postInviteMember"):
        assert "400" in operation(spec, op)["responses"]
