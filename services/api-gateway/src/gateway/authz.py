"""What each public route asks of the caller (an action on a scope), and asking iam for the decision.

Every route in the table maps to a rule here (a test checks it); a route without one is refused.
Scopes whose organization is not in the path (a project, an environment, a service, …) are
resolved by the owning service's `/internal/scope/{kind}/{id}`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from slipway.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, SlipwayError
from slipway.principal import HEADER

ActionFor = Callable[[str], str | None]
SERVICE_KINDS = "application|container|database|job|helm|terraform"
DEPLOY_ACTIONS = "deploy|redeploy|restart-service|stop|uninstall"


def rw(read: str, write: str) -> ActionFor:
    return lambda method: read if method == "GET" else write


def fixed(action: str) -> ActionFor:
    return lambda _method: action


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    action: ActionFor
    scope: str  # none | org | cluster-in-org | project | environment | service | stage | cluster | variable | …


def rule(template_regex: str, action: ActionFor, scope: str) -> Rule:
    return Rule(re.compile("^" + template_regex.replace("{id}", r"\{id\}") + "$"), action, scope)


# Actions with no organization scope: authentication is enough (the service filters by caller).
UNSCOPED = {"organization.list", "organization.create", "account", "invitation.accept", "public.read"}

RULES: list[Rule] = [
    rule("/organization", lambda m: "organization.list" if m == "GET" else "organization.create", "none"),
    rule("/account", fixed("account"), "none"),
    rule(
        "/(availableContainerRegistry|availableHelmRepository|default[A-Za-z]+AdvancedSettings)",
        fixed("public.read"),
        "none",
    ),
    rule(
        "/organization/{id}",
        lambda m: {"GET": "organization.read", "PUT": "organization.edit"}.get(m, "organization.delete"),
        "org",
    ),
    rule("/organization/{id}/apiToken(/{id})?", fixed("token.manage"), "org"),
    rule("/organization/{id}/availableRole", fixed("member.read"), "org"),
    rule(
        "/organization/{id}/inviteMember/{id}",
        lambda m: {"GET": "member.read", "POST": "invitation.accept"}.get(m, "member.manage"),
        "org",
    ),
    rule("/organization/{id}/(member|customRole(/{id})?|inviteMember)", rw("member.read", "member.manage"), "org"),
    rule("/organization/{id}/transferOwnership", fixed("organization.transfer"), "org"),
    rule("/slipway/organization/{id}/auditLog", fixed("audit.read"), "org"),
    # the receivers' URLs come with their secrets: reading them is managing the organization's settings
    rule("/slipway/organization/{id}/gitWebhook(/rotate)?", fixed("settings.manage"), "org"),
    rule("/organization/{id}/cluster(/status)?", rw("cluster.read", "cluster.manage"), "org"),
    rule("/organization/{id}/cluster/{id}/kubeconfig", fixed("cluster.manage"), "cluster-in-org"),
    rule("/organization/{id}/cluster/{id}(/.*)?", rw("cluster.read", "cluster.manage"), "cluster-in-org"),
    rule("/organization/{id}/project", rw("organization.read", "project.create"), "org"),
    rule("/organization/{id}/container/preview", fixed("project.create"), "org"),
    rule("/organization/{id}/.+", rw("settings.read", "settings.manage"), "org"),
    rule("/cluster/{id}/token", fixed("cluster.read"), "cluster"),
    rule("/project/{id}/environment", rw("project.read", "environment.create"), "project"),
    rule("/project/{id}(/.*)?", rw("project.read", "project.manage"), "project"),
    rule(
        f"/environment/{{id}}/(deploy|redeploy|stop|uninstall|cancelDeployment|service/({DEPLOY_ACTIONS}|delete))",
        fixed("environment.deploy"),
        "environment",
    ),
    rule("/environment/{id}(/.*)?", rw("environment.read", "environment.manage"), "environment"),
    rule(f"/({SERVICE_KINDS})/{{id}}/({DEPLOY_ACTIONS})", fixed("environment.deploy"), "service"),
    rule(f"/({SERVICE_KINDS})/{{id}}(/.*)?", rw("environment.read", "environment.manage"), "service"),
    rule("/service/{id}/.+", rw("environment.read", "environment.manage"), "service"),
    rule("/deploymentStage/{id}(/.*)?", rw("environment.read", "environment.manage"), "stage"),
    rule("/deploymentQueue/{id}/.+", fixed("environment.deploy"), "deployment-request"),
    rule("/variable/import", fixed("environment.manage"), "variable-import"),
    rule("/variable", rw("environment.read", "environment.manage"), "variable-parent"),
    # an alias or override only reads its target; the new variable's parent must be manageable (extra_targets)
    rule("/variable/{id}/(alias|override)", fixed("environment.read"), "variable"),
    rule("/variable/{id}(/.*)?", rw("environment.read", "environment.manage"), "variable"),
]

# Where a kind's scope is resolved, and which id kind it is looked up as.
SCOPE_OWNERS = {
    "project": "catalog",
    "environment": "catalog",
    "service": "catalog",
    "stage": "catalog",
    "cluster": "catalog",
    "variable": "catalog",
    "deployment-request": "deployer",
}
_VARIABLE_SCOPES = {
    "PROJECT": "project",
    "ENVIRONMENT": "environment",
    "APPLICATION": "service",
    "CONTAINER": "service",
    "JOB": "service",
    "HELM": "service",
    "TERRAFORM": "service",
}


def find_rule(template: str) -> Rule | None:
    for candidate in RULES:
        if candidate.pattern.match(template):
            return candidate
    return None


def path_ids(template: str, path: str) -> list[str]:
    t, p = template.strip("/").split("/"), path.rstrip("/").strip("/").split("/")
    return [seg for tseg, seg in zip(t, p, strict=False) if tseg == "{id}"]


@dataclass
class Target:
    action: str
    organization_id: uuid.UUID | None = None
    cluster_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    environment_mode: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None


def _uuid(value: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("not found") from None


class Authorizer:
    def __init__(
        self,
        http: httpx.AsyncClient,
        upstream: Callable[[str], str],
        key_header: Callable[..., str],
        cache_seconds: float = 2.0,
    ):
        self.http = http
        self.upstream = upstream
        self.sign = key_header
        self.cache_seconds = cache_seconds
        # (caller, action, scope) -> (expiry, decision): role changes apply within `cache_seconds`.
        self._decisions: dict[tuple[str, ...], tuple[float, str]] = {}
        # (kind, id) -> (expiry, scope or None): where a resource lives barely ever changes.
        self._scopes: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = {}

    async def target(self, template: str, method: str, path: str, query: dict[str, str], body: bytes) -> Target:
        found = find_rule(template)
        if found is None:
            raise Forbidden("this operation is not authorized for anyone yet")
        action = found.action(method)
        if action is None:
            raise Forbidden("method not authorized")
        ids = path_ids(template, path)
        resource_type = template.strip("/").split("/")[0]
        target = Target(action=action, resource_type=resource_type, resource_id=ids[-1] if ids else None)
        if found.scope == "none":
            return target
        if found.scope in ("org", "cluster-in-org"):
            target.organization_id = _uuid(ids[0])
            if found.scope == "cluster-in-org":
                target.cluster_id = _uuid(ids[1])
            return target
        kind, ident = found.scope, ids[0] if ids else None
        if kind == "variable-import":
            kind, ident = "service", query.get("service_id")
        if kind == "variable-parent":
            kind, ident = self._variable_parent(method, query, body)
            if kind == "project":
                target.action = "project.read" if method == "GET" else "project.manage"
        await self._resolve(target, kind, _uuid(ident))
        if kind == "variable" and target.environment_mode is None:
            # a project-level variable is a project resource (like the PROJECT scope of /variable)
            target.action = {"environment.read": "project.read", "environment.manage": "project.manage"}.get(
                target.action, target.action
            )
        if found.scope == "project" and target.action == "environment.create":
            target.environment_mode = _mode_field(body) or "DEVELOPMENT"
        return target

    async def extra_targets(self, template: str, body: bytes, primary: Target) -> list[Target]:
        """Operations that also touch a second scope: cloning into another project needs the right
        to create an environment there, in the clone's mode; an alias or override lands at the body's
        parent, which must be manageable too (e.g. a PRODUCTION environment below a project variable)."""
        for verb in ("alias", "override"):
            if template == "/variable/{id}/" + verb:
                scope, parent = _body_field(body, f"{verb}_scope"), _body_field(body, f"{verb}_parent_id")
                if not scope or not parent:  # catalog answers 400; meanwhile ask for the target's manage right
                    ident = str(primary.resource_id)
                    return [await self.target("/variable/{id}", "PUT", f"/variable/{ident}", {}, b"")]
                fields = json.dumps({"variable_scope": scope, "variable_parent_id": parent}).encode()
                return [await self.target("/variable", "POST", "/variable", {}, fields)]
        if template != "/environment/{id}/clone":
            return []
        project_id = _body_field(body, "project_id")
        if not project_id or project_id == str(primary.project_id):
            return []
        mode = _mode_field(body) or primary.environment_mode or "DEVELOPMENT"
        path = f"/project/{project_id}/environment"
        return [await self.target("/project/{id}/environment", "POST", path, {}, json.dumps({"mode": mode}).encode())]

    def _variable_parent(self, method: str, query: dict[str, str], body: bytes) -> tuple[str, str | None]:
        if method == "GET":
            scope, parent = query.get("scope"), query.get("parent_id")
        else:
            scope, parent = _body_field(body, "variable_scope"), _body_field(body, "variable_parent_id")
        field = "scope" if method == "GET" else "variable_scope"
        kind = _VARIABLE_SCOPES.get(str(scope))
        if kind is None:
            raise BadRequest(f"{field}: must be one of {', '.join(sorted(_VARIABLE_SCOPES))}, not {scope!r}")
        if not parent:
            raise BadRequest(f"{'parent_id' if method == 'GET' else 'variable_parent_id'}: required")
        return kind, parent

    async def _resolve(self, target: Target, kind: str, ident: uuid.UUID) -> None:
        now = time.monotonic()
        cached = self._scopes.get((kind, str(ident)))
        if cached is not None and cached[0] > now:
            scope = cached[1]
        else:
            scope = await self._lookup(kind, ident)
            if len(self._scopes) > 50_000:
                self._scopes.clear()
            self._scopes[(kind, str(ident))] = (now + self.cache_seconds, scope)
        if scope is None:
            raise NotFound(f"{kind.replace('-', ' ')} not found")
        target.organization_id = _uuid(scope["organization_id"])
        target.project_id = uuid.UUID(scope["project_id"]) if scope.get("project_id") else None
        target.cluster_id = uuid.UUID(scope["cluster_id"]) if scope.get("cluster_id") else None
        target.environment_mode = scope.get("environment_mode")

    async def _lookup(self, kind: str, ident: uuid.UUID) -> dict[str, str] | None:
        owner = SCOPE_OWNERS[kind]
        try:
            response = await self.http.get(
                f"{self.upstream(owner)}/internal/scope/{kind}/{ident}", headers={HEADER: self.sign()}, timeout=10
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the {owner} service is unavailable ({type(exc).__name__})") from None
        if response.status_code != 200:
            return None
        return response.json()  # type: ignore[no-any-return]

    async def decide(self, target: Target, principal_header: str, caller: str) -> None:
        """Raise unless iam allows; never reveal that another organization's resource exists."""
        if target.action in UNSCOPED:
            return
        assert target.organization_id is not None
        key = (
            caller,
            target.action,
            str(target.organization_id),
            str(target.cluster_id),
            str(target.project_id),
            str(target.environment_mode),
        )
        now = time.monotonic()
        cached = self._decisions.get(key)
        if cached is not None and cached[0] > now:
            decision = cached[1]
        else:
            decision = await self._ask_iam(target, principal_header)
            if len(self._decisions) > 50_000:
                self._decisions.clear()
            self._decisions[key] = (now + self.cache_seconds, decision)
        if decision == "not_found":
            raise NotFound(f"{target.resource_type or 'resource'} not found")
        if decision != "allow":
            raise Forbidden(f"your role does not allow {target.action}")

    async def _ask_iam(self, target: Target, principal_header: str) -> str:
        payload = {"action": target.action, "organization_id": str(target.organization_id)}
        assert target.organization_id is not None
        for key in ("cluster_id", "project_id"):
            if getattr(target, key) is not None:
                payload[key] = str(getattr(target, key))
        if target.environment_mode:
            payload["environment_mode"] = target.environment_mode
        try:
            response = await self.http.post(
                f"{self.upstream('iam')}/internal/authorize",
                json=payload,
                headers={HEADER: principal_header},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"identity service unreachable ({type(exc).__name__})") from None
        if 400 <= response.status_code < 500:  # iam refused the question itself: the client's input, not an outage
            raise SlipwayError(_detail(response), status_code=response.status_code)
        if response.status_code != 200:
            raise ServiceUnavailable(f"identity service answered {response.status_code}")
        return str(response.json()["decision"])


ENVIRONMENT_MODES = ("PRODUCTION", "STAGING", "DEVELOPMENT", "PREVIEW")


def _mode_field(body: bytes) -> str | None:
    """The body's environment `mode`, validated before it is used to authorize (400 when it is no mode)."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None
    value = data.get("mode") if isinstance(data, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or value not in ENVIRONMENT_MODES:
        raise BadRequest(f"mode: must be one of {', '.join(ENVIRONMENT_MODES)}, not {json.dumps(value)}")
    return value


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"refused ({response.status_code})"
    return str(body.get("detail") or body.get("message")) if isinstance(body, dict) else str(body)


def _body_field(body: bytes, key: str) -> str | None:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return str(value) if value is not None else None
