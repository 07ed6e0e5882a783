"""Qovery's /variable API on the catalog app: scopes, aliases, overrides, built-ins, secrets, files, the resolver."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text

from catalog.database.service import password_context
from catalog.models import Service
from catalog.variable.resolve import Resolved, resolve_service
from slipway.crypto import keyring_from
from slipway.principal import HEADER, service_principal, sign
from slipway_stack.qovery_spec import check

from .test_clusters import KEY, Catalog, bad, catalog, user_principal  # noqa: F401  (fixture)


@dataclass
class World:
    organization: str
    project: str
    environment: str
    cluster: str
    app: str
    container: str
    database: str

    def short(self, service: str) -> str:
        return "Z" + service.replace("-", "")[:8].upper()


async def _service(cat: Catalog, w: dict[str, str], kind: str, name: str, config: dict[str, Any]) -> str:
    sid = uuid.uuid4()
    if kind == "DATABASE":
        config = {**config, "password_encrypted": keyring_from(cat.settings).encrypt("db-Pa55", password_context(sid))}
    async with cat.app.state.db.transaction() as session:
        session.add(
            Service(
                id=sid, organization_id=uuid.UUID(w["organization"]), project_id=uuid.UUID(w["project"]),
                environment_id=uuid.UUID(w["environment"]), kind=kind, name=name, config=config,
            )
        )  # fmt: skip
    return str(sid)


async def _world(cat: Catalog) -> World:
    org = str(uuid.uuid4())
    pid = (await cat.api.post(f"/organization/{org}/project", json={"name": "p"})).json()["id"]
    env = (await cat.api.post(f"/project/{pid}/environment", json={"name": f"e-{uuid.uuid4().hex[:6]}"})).json()
    w = {"organization": org, "project": pid, "environment": env["id"]}
    tag = uuid.uuid4().hex[:6]  # host slugs are unique in the whole installation
    app = await _service(
        cat, w, "APPLICATION", "api",
        {
            "git_repository": {"url": "https://github.com/acme/api.git", "branch": "main", "root_path": "/",
                               "provider": "GITHUB", "git_token_id": None},
            "git_commit_id": "c" * 40,
            "host_slug": f"api-{tag}",
            "ports": [{"id": str(uuid.uuid4()), "name": "p8080", "internal_port": 8080, "external_port": 443,
                       "publicly_accessible": True, "is_default": True, "protocol": "HTTP"}],
        },
    )  # fmt: skip
    container = await _service(cat, w, "CONTAINER", "web", {"host_slug": f"web-{tag}", "ports": []})
    database = await _service(
        cat, w, "DATABASE", "pg",
        {"type": "POSTGRESQL", "version": "16", "port": 5432, "login": "superuser", "database_name": "postgres"},
    )  # fmt: skip
    return World(org, pid, env["id"], env["cluster_id"], app, container, database)


def new(key: str, value: str, scope: str, parent: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "value": value, "is_secret": False, "variable_scope": scope, "variable_parent_id": parent,
            "mount_path": None, **extra}  # fmt: skip


async def _create(cat: Catalog, spec: dict[str, Any], *args: Any, **extra: Any) -> dict[str, Any]:
    return check(spec, "createVariable", await cat.api.post("/variable", json=new(*args, **extra)))


async def _list(cat: Catalog, spec: dict[str, Any], scope: str, parent: str, **query: Any) -> list[dict[str, Any]]:
    r = await cat.api.get("/variable", params={"parent_id": parent, "scope": scope, **query})
    return check(spec, "listVariables", r)["results"]


async def _resolve(cat: Catalog, service: str) -> Resolved:
    async with cat.app.state.db.transaction() as session:
        svc = await session.get(Service, uuid.UUID(service))
        assert svc is not None
        return await resolve_service(session, svc, keyring_from(cat.settings))


async def _outbox(cat: Catalog) -> list[tuple[str, dict[str, Any]]]:
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            text("SELECT subject, data FROM catalog.outbox WHERE subject LIKE 'evt.catalog.variable.%' ORDER BY seq")
        )
        return [(subject, json.loads(data)) for subject, data in rows]


def by_key(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in results:
        found.setdefault(item["key"], []).append(item)
    return found


# -- CRUD, scopes, listing ---------------------------------------------------------------------------------
async def test_variable_crud_and_listing_match_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    project_var = await _create(catalog, spec, "SHARED", "project", "PROJECT", w.project, description="from p")
    assert project_var["scope"] == "PROJECT" and project_var["variable_type"] == "VALUE"
    assert project_var["value"] == "project" and project_var["mount_path"] is None and project_var["is_secret"] is False
    assert project_var["owned_by"] == "QOVERY" and project_var["description"] == "from p"
    assert "service_id" not in project_var
    env_var = await _create(catalog, spec, "SHARED", "environment", "ENVIRONMENT", w.environment)
    app_var = await _create(catalog, spec, "ONLY_APP", "x", "APPLICATION", w.app)
    assert (app_var["service_id"], app_var["service_name"], app_var["service_type"]) == (w.app, "api", "APPLICATION")
    await _create(catalog, spec, "ONLY_WEB", "y", "CONTAINER", w.container)

    # a project sees its own; an environment adds its own and the built-ins; a service adds its own
    assert [v["key"] for v in await _list(catalog, spec, "PROJECT", w.project)] == ["SHARED"]
    env_list = by_key(await _list(catalog, spec, "ENVIRONMENT", w.environment))
    assert [v["scope"] for v in env_list["SHARED"]] == ["PROJECT", "ENVIRONMENT"]  # both levels listed
    assert "ONLY_APP" not in env_list and "QOVERY_APPLICATION_ID" not in env_list
    assert env_list["QOVERY_ENVIRONMENT_ID"][0]["value"] == w.environment
    app_list = by_key(await _list(catalog, spec, "APPLICATION", w.app))
    assert "ONLY_WEB" not in app_list and app_list["ONLY_APP"][0]["id"] == app_var["id"]
    assert app_list["QOVERY_APPLICATION_ID"][0]["value"] == w.app
    assert [v["value"] for v in app_list["SHARED"]] == ["project", "environment"]
    head = f"QOVERY_APPLICATION_{w.short(w.app)}"
    builtin = app_list[f"{head}_HOST_INTERNAL"][0]
    assert (builtin["scope"], builtin["variable_type"], builtin["value"]) == (
        "BUILT_IN",
        "BUILT_IN",
        f"app-z{w.app[:8]}",
    )
    assert builtin["service_id"] == w.app and builtin["service_type"] == "APPLICATION"
    assert re.fullmatch(r"api-[0-9a-f]{6}\.localhost", app_list[f"{head}_HOST_EXTERNAL"][0]["value"])
    assert app_list[f"{head}_GIT_COMMIT_ID"][0]["value"] == "c" * 40
    assert app_list[f"{head}_GIT_BRANCH"][0]["value"] == "main"
    assert app_list["QOVERY_PROJECT_ID"][0]["value"] == w.project
    assert app_list["QOVERY_CLUSTER_ID"][0]["value"] == w.cluster
    web = by_key(await _list(catalog, spec, "CONTAINER", w.container))
    assert web[f"{head}_HOST_INTERNAL"][0]["id"] == builtin["id"]  # every service sees every built-in, same id
    assert "QOVERY_APPLICATION_ID" not in web and web["QOVERY_CONTAINER_ID"][0]["value"] == w.container
    assert (await _resolve(catalog, w.app)).env["SHARED"] == "environment"  # the lower scope wins

    edited = check(
        spec,
        "editVariable",
        await catalog.api.put(f"/variable/{env_var['id']}", json={"key": "SHARED2", "value": "v2"}),
    )
    assert (edited["key"], edited["value"], edited["id"]) == ("SHARED2", "v2", env_var["id"])
    assert edited["updated_at"] >= edited["created_at"]
    kept = check(spec, "editVariable", await catalog.api.put(f"/variable/{env_var['id']}", json={"key": "SHARED2"}))
    assert kept["value"] == "v2"  # no value: unchanged

    check(spec, "deleteVariable", await catalog.api.delete(f"/variable/{env_var['id']}"))
    assert (await catalog.api.delete(f"/variable/{env_var['id']}")).status_code == 404
    assert "SHARED2" not in by_key(await _list(catalog, spec, "ENVIRONMENT", w.environment))

    events = [(s, e["payload"]) for s, e in await _outbox(catalog) if e["resource_id"] == env_var["id"]]
    assert [s for s, _ in events] == [
        "evt.catalog.variable.created",
        "evt.catalog.variable.updated",
        "evt.catalog.variable.updated",
        "evt.catalog.variable.deleted",
    ]
    assert events[0][1] == {
        "variable_id": env_var["id"],
        "scope": "ENVIRONMENT",
        "parent_id": w.environment,
        "project_id": w.project,
        "environment_id": w.environment,
    }
    project_event = next(e for s, e in await _outbox(catalog) if e["resource_id"] == project_var["id"])
    assert project_event["payload"] == {
        "variable_id": project_var["id"], "scope": "PROJECT", "parent_id": w.project, "project_id": w.project,
    }  # fmt: skip


async def test_is_secret_filter(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    await _create(catalog, spec, "PLAIN", "1", "ENVIRONMENT", w.environment)
    await _create(catalog, spec, "HIDDEN", "2", "ENVIRONMENT", w.environment, is_secret=True)
    secrets = await _list(catalog, spec, "ENVIRONMENT", w.environment, is_secret="true")
    assert all(v["is_secret"] for v in secrets) and "HIDDEN" in by_key(secrets) and "PLAIN" not in by_key(secrets)
    assert f"QOVERY_POSTGRESQL_{w.short(w.database)}_PASSWORD" in by_key(secrets)
    plain = await _list(catalog, spec, "ENVIRONMENT", w.environment, is_secret="false")
    assert not any(v["is_secret"] for v in plain) and "PLAIN" in by_key(plain)


# -- aliases and overrides ---------------------------------------------------------------------------------
async def test_aliases_and_overrides(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    level = await _create(catalog, spec, "LOG_LEVEL", "info", "PROJECT", w.project)
    # an alias of a project variable at environment scope
    alias = check(
        spec,
        "createVariableAlias",
        await catalog.api.post(
            f"/variable/{level['id']}/alias",
            json={"key": "LEVEL", "alias_scope": "ENVIRONMENT", "alias_parent_id": w.environment},
        ),
    )
    assert alias["variable_type"] == "ALIAS" and alias["scope"] == "ENVIRONMENT" and alias["value"] is None
    assert alias["aliased_variable"] == {
        "id": level["id"], "key": "LOG_LEVEL", "value": "info", "mount_path": "", "scope": "PROJECT",
        "variable_type": "VALUE",
    }  # fmt: skip
    # an override at service scope
    override = check(
        spec,
        "createVariableOverride",
        await catalog.api.post(
            f"/variable/{level['id']}/override",
            json={"value": "debug", "override_scope": "APPLICATION", "override_parent_id": w.app},
        ),
    )
    assert (override["key"], override["value"], override["variable_type"]) == ("LOG_LEVEL", "debug", "OVERRIDE")
    assert override["overridden_variable"]["id"] == level["id"] and override["service_id"] == w.app
    # an alias of a built-in
    host_key = f"QOVERY_POSTGRESQL_{w.short(w.database)}_HOST_INTERNAL"
    host = by_key(await _list(catalog, spec, "APPLICATION", w.app))[host_key][0]
    db_host = check(
        spec,
        "createVariableAlias",
        await catalog.api.post(
            f"/variable/{host['id']}/alias",
            json={"key": "DB_HOST", "alias_scope": "APPLICATION", "alias_parent_id": w.app},
        ),
    )
    assert db_host["aliased_variable"]["scope"] == "BUILT_IN" and db_host["aliased_variable"]["key"] == host_key

    listed = by_key(await _list(catalog, spec, "APPLICATION", w.app))
    assert [v["variable_type"] for v in listed["LOG_LEVEL"]] == ["VALUE", "OVERRIDE"]
    assert listed["LEVEL"][0]["aliased_variable"]["key"] == "LOG_LEVEL"
    assert listed["LOG_LEVEL"][1]["overridden_variable"]["key"] == "LOG_LEVEL"
    resolved = await _resolve(catalog, w.app)
    assert resolved.env["LOG_LEVEL"] == "debug" and resolved.env["LEVEL"] == "debug"  # the alias reads the override
    assert resolved.env["DB_HOST"] == f"db-z{w.database[:8]}"
    other = await _resolve(catalog, w.container)
    assert other.env["LOG_LEVEL"] == "info" and other.env["LEVEL"] == "info" and "DB_HOST" not in other.env

    # refusals
    r = await catalog.api.post(
        f"/variable/{alias['id']}/alias",
        json={"key": "L2", "alias_scope": "ENVIRONMENT", "alias_parent_id": w.environment},
    )
    bad(r, "alias")
    bad(await catalog.api.put(f"/variable/{alias['id']}", json={"key": "LEVEL", "value": "x"}), "value")
    renamed = check(spec, "editVariable", await catalog.api.put(f"/variable/{alias['id']}", json={"key": "LVL"}))
    assert renamed["key"] == "LVL" and renamed["aliased_variable"]["id"] == level["id"]
    bad(await catalog.api.put(f"/variable/{override['id']}", json={"key": "OTHER"}), "key")
    changed = check(
        spec,
        "editVariable",
        await catalog.api.put(f"/variable/{override['id']}", json={"key": "LOG_LEVEL", "value": "warn"}),
    )
    assert changed["value"] == "warn" and changed["overridden_variable"]["id"] == level["id"]
    env_var = await _create(catalog, spec, "E", "1", "ENVIRONMENT", w.environment)
    bad(  # an alias above its target
        await catalog.api.post(
            f"/variable/{env_var['id']}/alias",
            json={"key": "P", "alias_scope": "PROJECT", "alias_parent_id": w.project},
        ),
        "alias_scope",
    )
    other_world = await _world(catalog)
    bad(  # an alias outside its target's subtree
        await catalog.api.post(
            f"/variable/{env_var['id']}/alias",
            json={"key": "X", "alias_scope": "APPLICATION", "alias_parent_id": other_world.app},
        ),
        "alias_scope",
    )
    bad(  # an override at the same scope
        await catalog.api.post(
            f"/variable/{env_var['id']}/override",
            json={"value": "2", "override_scope": "ENVIRONMENT", "override_parent_id": w.environment},
        ),
        "override_scope",
    )
    bad(
        await catalog.api.post(
            f"/variable/{host['id']}/override",
            json={"value": "x", "override_scope": "APPLICATION", "override_parent_id": w.app},
        ),
        "built-in",
    )
    bad(
        await catalog.api.post(
            f"/variable/{alias['id']}/override",
            json={"value": "x", "override_scope": "APPLICATION", "override_parent_id": w.app},
        ),
        "alias",
    )
    bad(await catalog.api.put(f"/variable/{host['id']}", json={"key": "X", "value": "y"}), "built-in")
    bad(await catalog.api.delete(f"/variable/{host['id']}"), "built-in")
    r = await catalog.api.post(
        f"/variable/{level['id']}/override",
        json={"value": "x", "override_scope": "APPLICATION", "override_parent_id": w.app},
    )
    assert r.status_code == 409, r.text  # already overridden there

    # renaming a variable carries its overrides and aliases along
    check(spec, "editVariable", await catalog.api.put(f"/variable/{level['id']}", json={"key": "VERBOSITY"}))
    resolved = await _resolve(catalog, w.app)
    assert resolved.env["VERBOSITY"] == "warn" and resolved.env["LVL"] == "warn" and "LOG_LEVEL" not in resolved.env
    listed = by_key(await _list(catalog, spec, "APPLICATION", w.app))
    assert listed["LVL"][0]["aliased_variable"]["key"] == "VERBOSITY"

    # deleting the target deletes its aliases and overrides
    check(spec, "deleteVariable", await catalog.api.delete(f"/variable/{level['id']}"))
    for gone in (alias, override):
        assert (await catalog.api.put(f"/variable/{gone['id']}", json={"key": "Z"})).status_code == 404
    listed = by_key(await _list(catalog, spec, "APPLICATION", w.app))
    assert not {"VERBOSITY", "LVL", "LOG_LEVEL"} & set(listed) and "DB_HOST" in listed
    deleted = [e["resource_id"] for s, e in await _outbox(catalog) if s == "evt.catalog.variable.deleted"]
    assert {level["id"], alias["id"], override["id"]} <= set(deleted)


# -- secrets -----------------------------------------------------------------------------------------------
async def test_secrets_are_write_only_and_encrypted_at_rest(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    plaintext = "sk_live_very-secret-0123456789"
    created = await _create(catalog, spec, "STRIPE_KEY", plaintext, "ENVIRONMENT", w.environment, is_secret=True)
    assert created["value"] is None and created["is_secret"] is True
    alias = check(
        spec,
        "createVariableAlias",
        await catalog.api.post(
            f"/variable/{created['id']}/alias",
            json={"key": "PAY_KEY", "alias_scope": "APPLICATION", "alias_parent_id": w.app},
        ),
    )
    assert alias["is_secret"] is True and alias["aliased_variable"]["value"] is None
    override = check(
        spec,
        "createVariableOverride",
        await catalog.api.post(
            f"/variable/{created['id']}/override",
            json={"value": plaintext + "-web", "override_scope": "CONTAINER", "override_parent_id": w.container},
        ),
    )
    assert override["value"] is None and override["is_secret"] is True
    edited = check(
        spec,
        "editVariable",
        await catalog.api.put(f"/variable/{created['id']}", json={"key": "STRIPE_KEY", "value": plaintext + "2"}),
    )
    assert edited["value"] is None
    for scope, parent in (("ENVIRONMENT", w.environment), ("APPLICATION", w.app), ("CONTAINER", w.container)):
        listed = await _list(catalog, spec, scope, parent)
        assert all(v["value"] is None for v in listed if v["is_secret"])
        assert plaintext not in json.dumps(listed)
    db_password = by_key(await _list(catalog, spec, "APPLICATION", w.app))
    head = f"QOVERY_POSTGRESQL_{w.short(w.database)}"
    for suffix in ("PASSWORD", "DATABASE_URL", "DATABASE_URL_INTERNAL"):
        assert db_password[f"{head}_{suffix}"][0]["value"] is None and db_password[f"{head}_{suffix}"][0]["is_secret"]
    assert "db-Pa55" not in json.dumps(db_password)

    for ident in (created["id"], override["id"]):
        row = await catalog.row("variables", ident)
        assert plaintext not in row and json.loads(row)["value"] is None
        assert json.loads(row)["value_encrypted"].startswith("v1.")
    outbox = json.dumps(await _outbox(catalog))
    assert plaintext not in outbox and "STRIPE_KEY" not in outbox

    resolved = await _resolve(catalog, w.app)
    assert resolved.env["STRIPE_KEY"] == plaintext + "2" and resolved.env["PAY_KEY"] == plaintext + "2"
    assert {"STRIPE_KEY", "PAY_KEY", f"{head}_PASSWORD", f"{head}_DATABASE_URL"} <= resolved.secret_keys
    assert resolved.env[f"{head}_PASSWORD"] == "db-Pa55"
    host = f"db-z{w.database[:8]}"
    assert resolved.env[f"{head}_DATABASE_URL"] == f"postgresql://superuser:db-Pa55@{host}:5432/postgres"
    assert (await _resolve(catalog, w.container)).env["STRIPE_KEY"] == plaintext + "-web"


# -- files ---------------------------------------------------------------------------------------------------
async def test_file_variables_and_interpolation(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    await _create(catalog, spec, "DB_NAME", "shop", "PROJECT", w.project)
    template = "db={{DB_NAME}}\nhost={{ QOVERY_ENVIRONMENT_ID }}\nkey={{TLS_KEY}}\n"
    config = await _create(
        catalog, spec, "APP_CONFIG", template, "ENVIRONMENT", w.environment,
        mount_path="/etc/app/config.ini", enable_interpolation_in_file=True,
    )  # fmt: skip
    assert config["variable_type"] == "FILE" and config["mount_path"] == "/etc/app/config.ini"
    assert config["enable_interpolation_in_file"] is True and config["value"] == template
    tls = await _create(
        catalog,
        spec,
        "TLS_KEY",
        "-----BEGIN KEY-----",
        "APPLICATION",
        w.app,
        mount_path="/etc/tls/key.pem",
        is_secret=True,
    )
    assert tls["variable_type"] == "FILE" and tls["value"] is None
    bad(
        await catalog.api.post(
            "/variable", json=new("OTHER", "x", "APPLICATION", w.app, mount_path="/etc/app/config.ini")
        ),
        "mount_path",
    )
    bad(
        await catalog.api.post("/variable", json=new("REL", "x", "APPLICATION", w.app, mount_path="etc/x")),
        "mount_path",
    )
    bad(
        await catalog.api.post("/variable", json=new("DOTS", "x", "APPLICATION", w.app, mount_path="/etc/../x")),
        "mount_path",
    )
    # the same path in another environment is fine
    other = await _world(catalog)
    await _create(catalog, spec, "OTHER", "x", "ENVIRONMENT", other.environment, mount_path="/etc/app/config.ini")
    override = check(
        spec,
        "createVariableOverride",
        await catalog.api.post(
            f"/variable/{config['id']}/override",
            json={"value": "only={{DB_NAME}}", "override_scope": "CONTAINER", "override_parent_id": w.container},
        ),
    )
    assert (
        override["mount_path"] == "/etc/app/config.ini"
        and override["overridden_variable"]["mount_path"] == config["mount_path"]
    )

    resolved = await _resolve(catalog, w.app)
    assert resolved.env["APP_CONFIG"] == "/etc/app/config.ini" and resolved.env["TLS_KEY"] == "/etc/tls/key.pem"
    assert sorted(resolved.files) == [
        ("APP_CONFIG", "/etc/app/config.ini", f"db=shop\nhost={w.environment}\nkey=/etc/tls/key.pem\n", False),
        ("TLS_KEY", "/etc/tls/key.pem", "-----BEGIN KEY-----", True),
    ]
    assert (await _resolve(catalog, w.container)).files == [("APP_CONFIG", "/etc/app/config.ini", "only=shop", False)]


# -- validation ------------------------------------------------------------------------------------------------
async def test_variable_input_is_validated(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    for key in ("", "1ABC", "MY-VAR", "A B", "X" * 256, "é"):
        bad(await catalog.api.post("/variable", json=new(key, "v", "PROJECT", w.project)), "key")
    for key in ("QOVERY_MINE", "qovery_lower"):
        bad(await catalog.api.post("/variable", json=new(key, "v", "PROJECT", w.project)), "key", "reserved")
    for scope in ("TERRAFORM", "AGENTIC_WORKFLOW", "BUILT_IN"):
        bad(await catalog.api.post("/variable", json=new("K", "v", scope, w.app)), "variable_scope")
    bad(await catalog.api.post("/variable", json=new("K", "v", "ORGANIZATION", w.project)), "variable_scope")
    incomplete = new("K", "v", "PROJECT", w.project)
    del incomplete["value"]
    bad(await catalog.api.post("/variable", json=incomplete), "value")
    bad(await catalog.api.post("/variable", json=new("K", "v", "PROJECT", "nope")), "variable_parent_id")
    bad(
        await catalog.api.post("/variable", json=new("K", "v", "PROJECT", w.project, description="d" * 256)),
        "description",
    )
    bad(
        await catalog.api.post(
            "/variable", json=new("K", "v", "PROJECT", w.project, secret_manager_access_id=str(uuid.uuid4()))
        ),
        "secret_manager_access_id",
    )
    # parents: must exist, and a service scope must name a service of that kind
    for scope, parent in (
        ("PROJECT", str(uuid.uuid4())),
        ("ENVIRONMENT", w.project),
        ("CONTAINER", w.app),
        ("APPLICATION", w.database),
    ):
        r = await catalog.api.post("/variable", json=new("K", "v", scope, parent))
        assert r.status_code == 404, (scope, r.text)
        assert (await catalog.api.get("/variable", params={"parent_id": parent, "scope": scope})).status_code == 404
    bad(await catalog.api.get("/variable", params={"scope": "PROJECT"}), "parent_id")
    bad(await catalog.api.get("/variable", params={"parent_id": w.project, "scope": "TERRAFORM"}), "scope")
    # duplicates at the same parent conflict; the same key elsewhere is fine
    await _create(catalog, spec, "DUP", "1", "ENVIRONMENT", w.environment)
    r = await catalog.api.post("/variable", json=new("DUP", "2", "ENVIRONMENT", w.environment))
    assert r.status_code == 409 and "DUP" in r.json()["detail"], r.text
    await _create(catalog, spec, "DUP", "3", "APPLICATION", w.app)
    other = await _create(catalog, spec, "OTHER", "3", "APPLICATION", w.app)
    r = await catalog.api.put(f"/variable/{other['id']}", json={"key": "DUP"})
    assert r.status_code == 409, r.text
    bad(await catalog.api.put(f"/variable/{other['id']}", json={"key": "QOVERY_X"}), "reserved")
    bad(await catalog.api.put(f"/variable/{other['id']}", json={"value": "x"}), "key")
    # unknown ids
    missing = str(uuid.uuid4())
    assert (await catalog.api.put(f"/variable/{missing}", json={"key": "K"})).status_code == 404
    assert (await catalog.api.delete(f"/variable/{missing}")).status_code == 404
    alias = {"key": "K", "alias_scope": "ENVIRONMENT", "alias_parent_id": w.environment}
    assert (await catalog.api.post(f"/variable/{missing}/alias", json=alias)).status_code == 404
    over = {"value": "v", "override_scope": "ENVIRONMENT", "override_parent_id": w.environment}
    assert (await catalog.api.post(f"/variable/{missing}/override", json=over)).status_code == 404
    bad(await catalog.api.post(f"/variable/{other['id']}/alias", json={**alias, "key": "QOVERY_A"}), "reserved")
    # nothing half-written: the failed calls left only what succeeded
    keys = sorted(v["key"] for v in await _list(catalog, spec, "APPLICATION", w.app) if v["scope"] != "BUILT_IN")
    assert keys == ["DUP", "DUP", "OTHER"]


# -- the gateway's scope lookup --------------------------------------------------------------------------------
async def test_variable_scope_for_the_gateway(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await _world(catalog)
    project_var = await _create(catalog, spec, "P", "1", "PROJECT", w.project)
    app_var = await _create(catalog, spec, "A", "1", "APPLICATION", w.app)
    builtin = by_key(await _list(catalog, spec, "APPLICATION", w.app))["QOVERY_APPLICATION_ID"][0]
    environment_scope = {
        "organization_id": w.organization,
        "project_id": w.project,
        "environment_id": w.environment,
        "environment_mode": "DEVELOPMENT",
        "cluster_id": w.cluster,
    }
    as_service = {HEADER: sign(service_principal("api-gateway"), KEY)}
    async with httpx.AsyncClient(base_url=catalog.url) as client:
        r = await client.get(f"/internal/scope/variable/{project_var['id']}", headers=as_service)
        assert r.status_code == 200 and r.json() == {"organization_id": w.organization, "project_id": w.project}
        for ident in (app_var["id"], builtin["id"]):
            r = await client.get(f"/internal/scope/variable/{ident}", headers=as_service)
            assert r.status_code == 200 and r.json() == environment_scope
        assert (await client.get(f"/internal/scope/variable/{uuid.uuid4()}", headers=as_service)).status_code == 404
        as_user = {HEADER: sign(user_principal(), KEY)}
        assert (await client.get(f"/internal/scope/variable/{app_var['id']}", headers=as_user)).status_code == 403
