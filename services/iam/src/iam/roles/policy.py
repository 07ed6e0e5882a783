"""Authorization policy: what each built-in role and each custom role may do (pure, no I/O).

Actions are `<area>.<verb>`; the scope narrows them to a cluster, a project or an environment mode.
Built-in powers follow Qovery's documented roles; custom roles follow its custom-role schema:
per-cluster VIEWER < ENV_CREATOR < ADMIN, per-project × environment-type
NO_ACCESS < VIEWER < DEPLOYER < MANAGER (`is_admin` on a project = MANAGER everywhere in it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

# Fixed ids so clients can store them; the same in every organization.
OWNER = uuid.UUID("00000000-0000-4000-8000-000000000001")
ADMIN = uuid.UUID("00000000-0000-4000-8000-000000000002")
DEVOPS = uuid.UUID("00000000-0000-4000-8000-000000000003")
BILLING_MANAGER = uuid.UUID("00000000-0000-4000-8000-000000000004")
VIEWER = uuid.UUID("00000000-0000-4000-8000-000000000005")

BUILTIN_NAMES = {OWNER: "Owner", ADMIN: "Admin", DEVOPS: "DevOps", BILLING_MANAGER: "Billing Manager", VIEWER: "Viewer"}
# Qovery's deprecated InviteMemberRoleEnum, still required in Member/InviteMember bodies.
LEGACY_ROLE = {OWNER: "OWNER", ADMIN: "ADMIN", DEVOPS: "DEVELOPER", BILLING_MANAGER: "VIEWER", VIEWER: "VIEWER"}
LEGACY_TO_ID = {"OWNER": OWNER, "ADMIN": ADMIN, "DEVELOPER": DEVOPS, "VIEWER": VIEWER}

ACTIONS = frozenset(
    {
        "organization.read",
        "organization.edit",
        "organization.delete",
        "organization.transfer",
        "member.read",
        "member.manage",
        "token.manage",
        "audit.read",
        "settings.read",
        "settings.manage",
        "cluster.read",
        "cluster.deploy",
        "cluster.manage",
        "project.create",
        "project.read",
        "project.manage",
        "environment.read",
        "environment.deploy",
        "environment.create",
        "environment.manage",
    }
)

_READ = {"organization.read", "member.read", "settings.read", "cluster.read", "project.read", "environment.read"}
_INFRA = {
    "settings.manage",
    "cluster.deploy",
    "cluster.manage",
    "project.create",
    "project.manage",
    "environment.deploy",
    "environment.create",
    "environment.manage",
}
BUILTIN_GRANTS: dict[uuid.UUID, frozenset[str]] = {
    OWNER: ACTIONS,
    ADMIN: ACTIONS - {"organization.delete", "organization.transfer"},
    DEVOPS: frozenset(_READ | _INFRA),
    BILLING_MANAGER: frozenset({"organization.read"}),
    VIEWER: frozenset(_READ),
}

CLUSTER_LEVELS = ["VIEWER", "ENV_CREATOR", "ADMIN"]
PROJECT_LEVELS = ["NO_ACCESS", "VIEWER", "DEPLOYER", "MANAGER"]
ENVIRONMENT_TYPES = ["DEVELOPMENT", "PREVIEW", "PRODUCTION", "STAGING"]
_CLUSTER_NEED = {"cluster.read": "VIEWER", "cluster.deploy": "ENV_CREATOR", "cluster.manage": "ADMIN"}
_ENV_NEED = {
    "environment.read": "VIEWER",
    "environment.deploy": "DEPLOYER",
    "environment.create": "MANAGER",
    "environment.manage": "MANAGER",
}
# What every custom role may do at organization level (read-only basics).
_CUSTOM_BASE = {"organization.read", "member.read", "settings.read"}


@dataclass(frozen=True)
class Scope:
    organization_id: uuid.UUID
    cluster_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    environment_mode: str | None = None


@dataclass
class CustomGrants:
    cluster_permissions: list[dict[str, Any]] = field(default_factory=list)
    project_permissions: list[dict[str, Any]] = field(default_factory=list)


def is_builtin(role_id: uuid.UUID) -> bool:
    return role_id in BUILTIN_GRANTS


def allowed(role_id: uuid.UUID, action: str, scope: Scope, custom: CustomGrants | None = None) -> bool:
    if action not in ACTIONS:
        return False
    if role_id in BUILTIN_GRANTS:
        return action in BUILTIN_GRANTS[role_id]
    if custom is None:
        return False
    return _custom_allowed(custom, action, scope)


def _custom_allowed(custom: CustomGrants, action: str, scope: Scope) -> bool:
    if action in _CUSTOM_BASE:
        return True
    if action in _CLUSTER_NEED:
        if scope.cluster_id is None:  # listing clusters: any cluster grant lets one see the list
            return action == "cluster.read"
        level = _cluster_level(custom, scope.cluster_id)
        return level is not None and CLUSTER_LEVELS.index(level) >= CLUSTER_LEVELS.index(_CLUSTER_NEED[action])
    entry = _project_entry(custom, scope.project_id)
    if action == "project.read":
        return entry is not None and (
            entry.get("is_admin")
            or any(PROJECT_LEVELS.index(p.get("permission", "NO_ACCESS")) >= 1 for p in entry.get("permissions", []))
        )
    if action == "project.manage":
        return entry is not None and bool(entry.get("is_admin"))
    if action in _ENV_NEED:
        if entry is None or scope.environment_mode is None:
            return False
        level = "MANAGER" if entry.get("is_admin") else _env_level(entry, scope.environment_mode)
        return PROJECT_LEVELS.index(level) >= PROJECT_LEVELS.index(_ENV_NEED[action])
    return False  # organization edit/delete, members, tokens, audit, settings.manage, project.create


def _cluster_level(custom: CustomGrants, cluster_id: uuid.UUID) -> str | None:
    for entry in custom.cluster_permissions:
        if str(entry.get("cluster_id")) == str(cluster_id):
            return str(entry.get("permission"))
    return None


def _project_entry(custom: CustomGrants, project_id: uuid.UUID | None) -> dict[str, Any] | None:
    if project_id is None:
        return None
    for entry in custom.project_permissions:
        if str(entry.get("project_id")) == str(project_id):
            return entry
    return None


def _env_level(entry: dict[str, Any], mode: str) -> str:
    for permission in entry.get("permissions", []):
        if permission.get("environment_type") == mode:
            return str(permission.get("permission", "NO_ACCESS"))
    return "NO_ACCESS"
