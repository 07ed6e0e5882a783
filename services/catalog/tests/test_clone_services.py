"""cloneEnvironment copies services (every kind) and variables (every type), never custom domains or database data.

Also holds `build_world`, the environment the desired-state tests resolve: every service kind and
variable type, created through the HTTP API.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from catalog.database.service import master_password
from catalog.models import CustomDomain, Service, Variable
from catalog.variable.resolve import Resolved, resolve_service
from slipway.crypto import keyring_from
from slipway_stack.qovery_spec import check

from .test_clusters import Catalog, catalog  # noqa: F401  (fixture)

GIT_TOKEN = "ghp_WorldCloneToken0123456789abcdef"
APP_REPO = {"url": "https://github.com/acme/api.git", "branch": "main", "root_path": "/", "provider": "GITHUB"}
JOB_REPO = {"url": "file:///srv/git/jobs.git", "branch": "main", "root_path": "/", "provider": "GITLAB"}


@dataclass
class World:
    organization: str
    project: str
    environment: str
    registry: str
    token: str
    app: str = ""
    web: str = ""
    db: str = ""
    job: str = ""
    domain: str = ""
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → createVariable's answer

    def head(self, kind: str, service: str) -> str:
        return f"QOVERY_{kind}_Z{service.replace('-', '')[:8].upper()}"


async def _ok(r: Any, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


async def _variable(cat: Catalog, w: World, name: str, key: str, value: str, scope: str, parent: str,
                    **extra: Any) -> None:  # fmt: skip
    body = {"key": key, "value": value, "is_secret": False, "variable_scope": scope, "variable_parent_id": parent,
            "mount_path": None, **extra}  # fmt: skip
    w.variables[name] = await _ok(await cat.api.post("/variable", json=body))


async def _alias(cat: Catalog, w: World, name: str, target: str, key: str, scope: str, parent: str) -> None:
    body = {"key": key, "alias_scope": scope, "alias_parent_id": parent}
    w.variables[name] = await _ok(await cat.api.post(f"/variable/{target}/alias", json=body))


async def _override(cat: Catalog, w: World, name: str, target: str, value: str, scope: str, parent: str) -> None:
    body = {"value": value, "override_scope": scope, "override_parent_id": parent}
    w.variables[name] = await _ok(await cat.api.post(f"/variable/{target}/override", json=body))


async def builtin_id(cat: Catalog, scope: str, parent: str, key: str) -> str:
    r = await cat.api.get("/variable", params={"parent_id": parent, "scope": scope})
    return next(str(v["id"]) for v in (await _ok(r, 200))["results"] if v["key"] == key)


async def build_world(cat: Catalog) -> World:
    """An environment with an application, a container, a database, a cron job and variables of every kind."""
    org = str(uuid.uuid4())
    registries = (await cat.api.get(f"/organization/{org}/containerRegistry")).json()["results"]
    pid = (await _ok(await cat.api.post(f"/organization/{org}/project", json={"name": "p"}), 200))["id"]
    env = await _ok(await cat.api.post(f"/project/{pid}/environment", json={"name": f"e-{uuid.uuid4().hex[:6]}"}))
    token = await _ok(
        await cat.api.post(f"/organization/{org}/gitToken", json={"name": "gh", "type": "GITHUB", "token": GIT_TOKEN})
    )
    w = World(org, pid, env["id"], registries[0]["id"], token["id"])
    eid = w.environment
    w.app = (
        await _ok(
            await cat.api.post(
                f"/environment/{eid}/application",
                json={
                    "name": "api",
                    "git_repository": {**APP_REPO, "git_token_id": w.token},
                    "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
                    "healthchecks": {"readiness_probe": {"type": {"http": {"path": "/ready", "port": 8080}}}},
                    "cpu": 250,
                    "memory": 256,
                },
            )
        )
    )["id"]
    w.web = (
        await _ok(
            await cat.api.post(
                f"/environment/{eid}/container",
                json={
                    "name": "web",
                    "registry_id": w.registry,
                    "image_name": "nginx",
                    "tag": "1.27",
                    "ports": [
                        {"internal_port": 80, "publicly_accessible": True, "protocol": "HTTP"},
                        {"internal_port": 9090, "publicly_accessible": False, "protocol": "GRPC"},
                    ],
                    "healthchecks": {"liveness_probe": {"type": {"tcp": {"port": 80}}, "period_seconds": 7}},
                    "storage": [{"type": "FAST_SSD", "size": 10, "mount_point": "/data"}],
                },
            )
        )
    )["id"]
    w.db = (
        await _ok(
            await cat.api.post(
                f"/environment/{eid}/database",
                json={"name": "pg", "type": "POSTGRESQL", "version": "16", "mode": "CONTAINER"},
            )
        )
    )["id"]
    w.job = (
        await _ok(
            await cat.api.post(
                f"/environment/{eid}/job",
                json={
                    "name": "nightly",
                    "source": {"docker": {"git_repository": JOB_REPO, "dockerfile_path": "Dockerfile.job"}},
                    "schedule": {"cronjob": {"scheduled_at": "0 3 * * *", "timezone": "Europe/Paris"}},
                    "healthchecks": {},
                },
            )
        )
    )["id"]
    w.domain = f"www.{uuid.uuid4().hex[:10]}.example.org"
    await _ok(
        await cat.api.post(f"/container/{w.web}/customDomain", json={"domain": w.domain, "generate_certificate": True})
    )

    # variables: project, environment and service scope; secrets, a file, aliases and overrides
    await _variable(cat, w, "shared_p", "SHARED", "project", "PROJECT", pid)
    await _variable(cat, w, "level", "LOG_LEVEL", "info", "PROJECT", pid)
    await _variable(cat, w, "shared_e", "SHARED", "environment", "ENVIRONMENT", eid)
    await _variable(cat, w, "env_secret", "ENV_SECRET", "e-s3cret", "ENVIRONMENT", eid, is_secret=True)
    await _variable(
        cat, w, "config", "CONFIG", "host={{DB_HOST}} level={{LOG_LEVEL}}", "ENVIRONMENT", eid,
        mount_path="/etc/app/app.conf", enable_interpolation_in_file=True,
    )  # fmt: skip
    await _variable(cat, w, "shared_a", "SHARED", "app", "APPLICATION", w.app)
    await _variable(cat, w, "app_secret", "API_TOKEN", "a-s3cret", "APPLICATION", w.app, is_secret=True)
    await _variable(cat, w, "job_var", "JOB_VAR", "j", "JOB", w.job)
    await _alias(cat, w, "level_alias", w.variables["level"]["id"], "LEVEL", "ENVIRONMENT", eid)
    await _alias(cat, w, "secret_alias", w.variables["env_secret"]["id"], "SECRET_ALIAS", "CONTAINER", w.web)
    db_host = await builtin_id(cat, "APPLICATION", w.app, f"{w.head('POSTGRESQL', w.db)}_HOST_INTERNAL")
    await _alias(cat, w, "db_host", db_host, "DB_HOST", "APPLICATION", w.app)
    db_url = await builtin_id(cat, "APPLICATION", w.app, f"{w.head('POSTGRESQL', w.db)}_DATABASE_URL")
    await _alias(cat, w, "db_url", db_url, "DATABASE_URL", "APPLICATION", w.app)
    env_id = await builtin_id(cat, "CONTAINER", w.web, "QOVERY_ENVIRONMENT_ID")
    await _alias(cat, w, "env_id", env_id, "ENV_ID", "CONTAINER", w.web)
    api_host = await builtin_id(cat, "JOB", w.job, f"{w.head('APPLICATION', w.app)}_HOST_INTERNAL")
    await _alias(cat, w, "api_host", api_host, "API_HOST", "JOB", w.job)
    await _override(cat, w, "level_override", w.variables["level"]["id"], "debug", "APPLICATION", w.app)
    await _override(cat, w, "secret_override", w.variables["env_secret"]["id"], "o-s3cret", "APPLICATION", w.app)
    return w


async def resolved(cat: Catalog, service_id: str) -> Resolved:
    async with cat.app.state.db.transaction() as session:
        svc = await session.get(Service, uuid.UUID(service_id))
        assert svc is not None
        return await resolve_service(session, svc, keyring_from(cat.settings))


async def _services(cat: Catalog, environment_id: str) -> list[Service]:
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            select(Service).where(Service.environment_id == uuid.UUID(environment_id)).order_by(Service.created_at)
        )
        return list(rows.scalars())


async def _variables(cat: Catalog, environment_id: str) -> list[Variable]:
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            select(Variable).where(Variable.environment_id == uuid.UUID(environment_id)).order_by(Variable.created_at)
        )
        return list(rows.scalars())


def _shape(v: Variable, names: dict[uuid.UUID, str]) -> tuple[Any, ...]:
    """A variable without its ids: what a clone must reproduce (its parent named by its service)."""
    return (v.scope, names.get(v.parent_id, "env"), v.key, v.value, v.is_secret, v.variable_type, v.mount_path,
            v.enable_interpolation_in_file)  # fmt: skip


async def test_clone_copies_every_service_and_variable(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await build_world(catalog)
    # one service elsewhere than its default stage, skipped: the clone keeps both
    stages = (await catalog.api.get(f"/environment/{w.environment}/deploymentStage")).json()["results"]
    job_stage = next(s for s in stages if s["name"] == "APPLICATION DEFAULT")["id"]
    r = await catalog.api.put(f"/deploymentStage/{job_stage}/service/{w.job}", json={"is_skipped": True})
    assert r.status_code == 200, r.text
    seq = await _last_seq(catalog)

    clone = check(
        spec,
        "cloneEnvironment",
        await catalog.api.post(f"/environment/{w.environment}/clone", json={"name": "copy", "mode": "PREVIEW"}),
    )
    cid = clone["id"]
    assert cid != w.environment and clone["mode"] == "PREVIEW" and clone["project"]["id"] == w.project

    # services: same names, kinds, configuration (host slug, port and volume ids aside), new ids
    old, new = await _services(catalog, w.environment), await _services(catalog, cid)
    assert [(s.kind, s.name) for s in new] == [(s.kind, s.name) for s in old]
    assert not {s.id for s in new} & {s.id for s in old}
    old_by, new_by = {s.name: s for s in old}, {s.name: s for s in new}
    for name, copy in new_by.items():
        original = old_by[name]
        assert copy.config["host_slug"] != original.config["host_slug"]
        assert copy.config["host_slug"].endswith("-copy"), copy.config["host_slug"]
        lists = [k for k in ("ports", "storage") if isinstance(original.config.get(k), list)]  # a database's is GiB
        strip = ("host_slug", "password_encrypted", *lists)
        assert {k: v for k, v in copy.config.items() if k not in strip} == {
            k: v for k, v in original.config.items() if k not in strip
        }
        for key in lists:
            mine, theirs = copy.config[key], original.config[key]
            assert [{**p, "id": ""} for p in mine] == [{**p, "id": ""} for p in theirs]
            assert not {p["id"] for p in mine} & {p["id"] for p in theirs}
        assert copy.is_skipped == original.is_skipped and copy.description == original.description
    assert new_by["nightly"].is_skipped is True

    # stage membership, by name, in the clone's own stages
    copied_stages = check(
        spec, "ListEnvironmentDeploymentStage", await catalog.api.get(f"/environment/{cid}/deploymentStage")
    )
    members = {s["name"]: sorted(m["service_id"] for m in s["services"]) for s in copied_stages["results"]}
    assert members == {
        "DATABASE DEFAULT": [str(new_by["pg"].id)],
        "JOB DEFAULT": [],
        "CONTAINER DEFAULT": [str(new_by["web"].id)],
        "APPLICATION DEFAULT": sorted([str(new_by["api"].id), str(new_by["nightly"].id)]),
    }
    assert not {s["id"] for s in copied_stages["results"]} & {s["id"] for s in stages}

    # the services answer on the public API of their kind
    check(spec, "getApplication", await catalog.api.get(f"/application/{new_by['api'].id}"))
    check(spec, "getContainer", await catalog.api.get(f"/container/{new_by['web'].id}"))
    check(spec, "getDatabase", await catalog.api.get(f"/database/{new_by['pg'].id}"))
    # (getJob is not checked against the spec: the checker reads the cron `scheduled_at` as a timestamp)
    assert (await catalog.api.get(f"/job/{new_by['nightly'].id}")).json()["schedule"]["cronjob"]["scheduled_at"]
    listed = check(spec, "listContainer", await catalog.api.get(f"/environment/{cid}/container"))
    assert [c["name"] for c in listed["results"]] == ["web"]

    # a database of its own: a freshly generated master password, encrypted for the new id
    keys = keyring_from(catalog.settings)
    assert master_password(new_by["pg"], keys) != master_password(old_by["pg"], keys)
    creds = check(
        spec, "getDatabaseMasterCredentials", await catalog.api.get(f"/database/{new_by['pg'].id}/masterCredentials")
    )
    assert creds["password"] == master_password(new_by["pg"], keys)

    # variables: the same ones (environment and service scoped), new ids, parents in the clone
    names = {**{s.id: s.name for s in old}, **{s.id: s.name for s in new}}
    old_vars, new_vars = await _variables(catalog, w.environment), await _variables(catalog, cid)
    assert sorted(_shape(v, names) for v in new_vars) == sorted(_shape(v, names) for v in old_vars)
    assert len(new_vars) == 14
    assert not {v.id for v in new_vars} & {v.id for v in old_vars}
    assert all(v.parent_id in {uuid.UUID(cid), *(s.id for s in new)} for v in new_vars)
    assert all(v.project_id == uuid.UUID(w.project) and v.environment_id == uuid.UUID(cid) for v in new_vars)
    new_ids = {v.id for v in new_vars}
    by_key = {(names.get(v.parent_id, "env"), v.key, v.variable_type): v for v in new_vars}
    project_level = uuid.UUID(w.variables["level"]["id"])
    # aliases and overrides: inside the clone, or still at the project variable
    assert by_key[("env", "LEVEL", "ALIAS")].target_id == project_level
    assert by_key[("api", "LOG_LEVEL", "OVERRIDE")].target_id == project_level
    assert by_key[("web", "SECRET_ALIAS", "ALIAS")].target_id in new_ids
    assert by_key[("api", "ENV_SECRET", "OVERRIDE")].target_id == by_key[("env", "ENV_SECRET", "VALUE")].id
    db_host = by_key[("api", "DB_HOST", "ALIAS")]
    assert db_host.target_key == f"{w.head('POSTGRESQL', str(new_by['pg'].id))}_HOST_INTERNAL"
    # ciphertexts are bound to the new rows, never copied
    secrets = [v for v in new_vars if v.value_encrypted]
    assert len(secrets) == 3 and not {v.value_encrypted for v in secrets} & {v.value_encrypted for v in old_vars}

    # the clone resolves to the same values, pointing at its own services
    api, web, job = [await resolved(catalog, str(new_by[n].id)) for n in ("api", "web", "nightly")]
    old_api = await resolved(catalog, w.app)
    new_db_host = f"db-z{str(new_by['pg'].id).replace('-', '')[:8]}"
    assert api.env["DB_HOST"] == new_db_host != old_api.env["DB_HOST"]
    assert api.env["API_TOKEN"] == "a-s3cret" and api.env["ENV_SECRET"] == "o-s3cret"
    assert api.env["LOG_LEVEL"] == "debug" and api.env["SHARED"] == "app"
    new_password = master_password(new_by["pg"], keys)
    assert api.env["DATABASE_URL"] == f"postgresql://superuser:{new_password}@{new_db_host}:5432/postgres"
    assert {"API_TOKEN", "ENV_SECRET", "DATABASE_URL"} <= api.secret_keys
    assert [(k, p, c) for k, p, c, _ in api.files] == [
        ("CONFIG", "/etc/app/app.conf", f"host={new_db_host} level=debug")
    ]
    assert web.env["SECRET_ALIAS"] == "e-s3cret" and web.env["ENV_ID"] == cid and web.env["LEVEL"] == "info"
    assert job.env["API_HOST"] == f"app-z{str(new_by['api'].id).replace('-', '')[:8]}" and job.env["JOB_VAR"] == "j"
    # the source is untouched
    assert old_api.env["DB_HOST"] == f"db-z{w.db.replace('-', '')[:8]}" and old_api.env["API_TOKEN"] == "a-s3cret"

    # no custom domain was copied
    async with catalog.app.state.db.transaction() as session:
        domains = (await session.execute(select(CustomDomain.service_id))).scalars().all()
    assert uuid.UUID(w.web) in domains and not {s.id for s in new} & set(domains)
    listed_domains = check(
        spec, "listContainerCustomDomain", await catalog.api.get(f"/container/{new_by['web'].id}/customDomain")
    )
    assert listed_domains["results"] == []

    # events: one service.created per cloned service, never a secret
    after = await _events_since(catalog, seq)
    created = [p for s, p in after if s == "evt.catalog.service.created"]
    assert sorted(p["service_id"] for p in created) == sorted(str(s.id) for s in new)
    assert all(p["environment_id"] == cid for p in created)
    assert len([s for s, _ in after if s == "evt.catalog.variable.created"]) == 14
    assert all(secret not in json.dumps(after) for secret in ("e-s3cret", "a-s3cret", "o-s3cret", new_password))


async def test_clone_into_another_project_rebinds_project_targets(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    w = await build_world(catalog)
    other = (await catalog.api.post(f"/organization/{w.organization}/project", json={"name": "p2"})).json()["id"]
    r = await catalog.api.post(
        "/variable",
        json={"key": "LOG_LEVEL", "value": "warn", "is_secret": False, "variable_scope": "PROJECT",
              "variable_parent_id": other, "mount_path": None},
    )  # fmt: skip
    level2 = r.json()["id"]
    clone = check(
        spec,
        "cloneEnvironment",
        await catalog.api.post(f"/environment/{w.environment}/clone", json={"name": "copy", "project_id": other}),
    )
    new_vars = await _variables(catalog, clone["id"])
    assert all(v.project_id == uuid.UUID(other) for v in new_vars)
    level_alias = next(v for v in new_vars if v.key == "LEVEL")
    assert level_alias.target_id == uuid.UUID(level2)  # the other project's variable of that key
    api = next(s for s in await _services(catalog, clone["id"]) if s.name == "api")
    web = next(s for s in await _services(catalog, clone["id"]) if s.name == "web")
    assert (await resolved(catalog, str(api.id))).env["LOG_LEVEL"] == "debug"
    assert (await resolved(catalog, str(web.id))).env["LEVEL"] == "warn"
    assert "SHARED" in (await resolved(catalog, str(web.id))).env  # the environment's own, copied


async def test_a_failing_clone_writes_nothing(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    # a secret no configured key can decrypt: the clone is refused whole (409), nothing is left behind
    async with catalog.app.state.db.transaction() as session:
        row = await session.get(Variable, uuid.UUID(w.variables["env_secret"]["id"]))
        assert row is not None
        row.value_encrypted = keyring_from(catalog.settings).encrypt("x", "variable:elsewhere:value")
    r = await catalog.api.post(f"/environment/{w.environment}/clone", json={"name": "broken"})
    assert r.status_code == 409 and "ENV_SECRET" in r.json()["detail"], r.text
    envs = (await catalog.api.get(f"/project/{w.project}/environment")).json()["results"]
    assert [e["id"] for e in envs] == [w.environment]


async def _last_seq(cat: Catalog) -> int:
    async with cat.app.state.db.transaction() as session:
        return int((await session.execute(text("SELECT coalesce(max(seq), 0) FROM catalog.outbox"))).scalar_one())


async def _events_since(cat: Catalog, seq: int) -> list[tuple[str, dict[str, Any]]]:
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            text("SELECT subject, data FROM catalog.outbox WHERE seq > :seq ORDER BY seq"), {"seq": seq}
        )
        return [(subject, json.loads(data)["payload"]) for subject, data in rows]
