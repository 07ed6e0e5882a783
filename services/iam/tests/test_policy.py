"""The role policy on its own: built-in powers and custom-role grants, case by case."""

from __future__ import annotations

import uuid

import pytest

from iam.roles import policy
from iam.roles.policy import CustomGrants, Scope

ORG, CLUSTER, PROJECT, OTHER = (uuid.uuid4() for _ in range(4))


def scope(**kw) -> Scope:  # type: ignore[no-untyped-def]
    return Scope(ORG, **kw)


@pytest.mark.parametrize("action", sorted(policy.ACTIONS))
def test_owner_can_do_everything_and_admin_all_but_delete_and_transfer(action: str) -> None:
    assert policy.allowed(policy.OWNER, action, scope())
    assert policy.allowed(policy.ADMIN, action, scope()) == (
        action not in ("organization.delete", "organization.transfer")
    )


def test_devops_viewer_billing() -> None:
    assert policy.allowed(policy.DEVOPS, "environment.deploy", scope(environment_mode="PRODUCTION"))
    assert policy.allowed(policy.DEVOPS, "cluster.manage", scope(cluster_id=CLUSTER))
    for action in ("member.manage", "token.manage", "audit.read", "organization.edit"):
        assert not policy.allowed(policy.DEVOPS, action, scope())
    reads = {a for a in policy.ACTIONS if policy.allowed(policy.VIEWER, a, scope())}
    assert reads == {
        "organization.read",
        "member.read",
        "settings.read",
        "cluster.read",
        "project.read",
        "environment.read",
    }
    assert {a for a in policy.ACTIONS if policy.allowed(policy.BILLING_MANAGER, a, scope())} == {"organization.read"}


def test_unknown_actions_and_roles_are_refused() -> None:
    assert not policy.allowed(policy.OWNER, "organization.destroy_everything", scope())
    assert not policy.allowed(uuid.uuid4(), "organization.read", scope())  # a custom role id without grants


GRANTS = CustomGrants(
    cluster_permissions=[{"cluster_id": str(CLUSTER), "permission": "ENV_CREATOR"}],
    project_permissions=[
        {
            "project_id": str(PROJECT),
            "is_admin": False,
            "permissions": [
                {"environment_type": "DEVELOPMENT", "permission": "MANAGER"},
                {"environment_type": "STAGING", "permission": "DEPLOYER"},
                {"environment_type": "PRODUCTION", "permission": "VIEWER"},
            ],
        }
    ],
)
CUSTOM = uuid.uuid4()


@pytest.mark.parametrize(
    ("mode", "read", "deploy", "manage"),
    [
        ("DEVELOPMENT", True, True, True),
        ("STAGING", True, True, False),
        ("PRODUCTION", True, False, False),
        ("PREVIEW", False, False, False),  # no entry for the type: NO_ACCESS
    ],
)
def test_custom_role_per_environment_type(mode: str, read: bool, deploy: bool, manage: bool) -> None:
    s = scope(project_id=PROJECT, environment_mode=mode)
    assert policy.allowed(CUSTOM, "environment.read", s, GRANTS) is read
    assert policy.allowed(CUSTOM, "environment.deploy", s, GRANTS) is deploy
    assert policy.allowed(CUSTOM, "environment.manage", s, GRANTS) is manage
    assert policy.allowed(CUSTOM, "environment.create", s, GRANTS) is manage


def test_custom_role_projects_and_clusters() -> None:
    assert policy.allowed(CUSTOM, "project.read", scope(project_id=PROJECT), GRANTS)
    assert not policy.allowed(CUSTOM, "project.manage", scope(project_id=PROJECT), GRANTS)
    assert not policy.allowed(CUSTOM, "project.read", scope(project_id=OTHER), GRANTS)
    assert not policy.allowed(
        CUSTOM, "environment.read", scope(project_id=OTHER, environment_mode="DEVELOPMENT"), GRANTS
    )
    assert policy.allowed(CUSTOM, "cluster.deploy", scope(cluster_id=CLUSTER), GRANTS)
    assert not policy.allowed(CUSTOM, "cluster.manage", scope(cluster_id=CLUSTER), GRANTS)
    assert not policy.allowed(CUSTOM, "cluster.read", scope(cluster_id=OTHER), GRANTS)
    for action in ("project.create", "member.manage", "token.manage", "settings.manage", "organization.delete"):
        assert not policy.allowed(CUSTOM, action, scope(project_id=PROJECT), GRANTS)


def test_project_admin_is_manager_everywhere_in_it() -> None:
    admin = CustomGrants(project_permissions=[{"project_id": str(PROJECT), "is_admin": True, "permissions": []}])
    for mode in policy.ENVIRONMENT_TYPES:
        assert policy.allowed(CUSTOM, "environment.manage", scope(project_id=PROJECT, environment_mode=mode), admin)
    assert policy.allowed(CUSTOM, "project.manage", scope(project_id=PROJECT), admin)
