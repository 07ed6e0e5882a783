"""The deployer's desired state of an environment and its version PUT: content, secrets, stability, access."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from slipway.desired import DesiredState
from slipway.principal import HEADER, service_principal, sign

from .test_clone_services import GIT_TOKEN, JOB_REPO, World, build_world
from .test_clusters import KEY, Catalog, catalog, user_principal  # noqa: F401  (fixture)

SHA = "0123456789abcdef0123456789abcdef01234567"


def deployer() -> dict[str, str]:
    return {HEADER: sign(service_principal("deployer"), KEY)}


async def snapshot(cat: Catalog, environment_id: str) -> DesiredState:
    async with httpx.AsyncClient(base_url=cat.url, timeout=30) as client:
        r = await client.get(f"/internal/environment/{environment_id}/desired-state", headers=deployer())
    assert r.status_code == 200, r.text
    return DesiredState.model_validate(r.json())


async def put_version(cat: Catalog, service_id: str, body: dict[str, Any], kind: str | None = None) -> httpx.Response:
    params = {"kind": kind} if kind else {}
    async with httpx.AsyncClient(base_url=cat.url, timeout=30) as client:
        return await client.put(f"/internal/service/{service_id}/version", json=body, headers=deployer(), params=params)


async def sealed(cat: Catalog, path: str) -> tuple[DesiredState, str]:
    async with httpx.AsyncClient(base_url=cat.url, timeout=30) as client:
        r = await client.get(f"/internal/{path}/sealed-state", headers=deployer())
    assert r.status_code == 200, r.text
    return DesiredState.model_validate(r.json()), r.text


def short(service_id: str) -> str:
    return service_id.replace("-", "")[:8]


async def _events(cat: Catalog, service_id: str) -> list[str]:
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            text("SELECT subject FROM catalog.outbox WHERE data LIKE :id ORDER BY seq"), {"id": f"%{service_id}%"}
        )
        return list(rows.scalars())


async def test_desired_state_resolves_the_whole_environment(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    state = await snapshot(catalog, w.environment)
    assert (state.organization_id, state.project_id, state.environment_id) == (w.organization, w.project, w.environment)
    assert state.environment_mode == "DEVELOPMENT" and state.version
    assert state.cluster.engine == catalog.settings.default_engine
    assert state.cluster.engine_host == catalog.settings.default_engine_host and state.cluster.kubeconfig is None

    # services in creation order; stages in deployment order with their members
    assert [(s.kind, s.name) for s in state.services] == [
        ("APPLICATION", "api"),
        ("CONTAINER", "web"),
        ("DATABASE", "pg"),
        ("JOB", "nightly"),
    ]
    public_stages = (await catalog.api.get(f"/environment/{w.environment}/deploymentStage")).json()["results"]
    assert [(s.id, s.name) for s in state.stages] == [(s["id"], s["name"]) for s in public_stages]
    assert [s.deployment_order for s in state.stages] == sorted(s.deployment_order for s in state.stages)
    assert {s.name: s.service_ids for s in state.stages} == {
        "DATABASE DEFAULT": [w.db],
        "JOB DEFAULT": [w.job],
        "CONTAINER DEFAULT": [w.web],
        "APPLICATION DEFAULT": [w.app],
    }
    api, web, db, job = (state.service(i) for i in (w.app, w.web, w.db, w.job))
    assert api and web and db and job
    assert api.stage_id == next(s.id for s in state.stages if s.name == "APPLICATION DEFAULT")

    # sources: the Git token decrypted here only, the registry, the job's file:// mirror
    assert api.git is not None and api.image is None
    assert (api.git.url, api.git.branch, api.git.commit, api.git.root_path, api.git.dockerfile_path) == (
        "https://github.com/acme/api.git", "main", None, "/", "Dockerfile",
    )  # fmt: skip
    assert api.git.token == GIT_TOKEN
    listed = await catalog.api.get("/variable", params={"parent_id": w.app, "scope": "APPLICATION"})
    public = (await catalog.api.get(f"/application/{w.app}")).text + listed.text
    assert GIT_TOKEN not in public and "a-s3cret" not in public
    assert job.git is not None and job.git.url == JOB_REPO["url"] and job.git.token is None
    assert job.git.dockerfile_path == "Dockerfile.job" and job.image is None
    assert job.job is not None and (job.job.kind, job.job.cron, job.job.timezone) == (
        "CRON",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert web.image is not None and web.git is None
    assert (web.image.registry.id, web.image.image_name, web.image.tag) == (w.registry, "nginx", "1.27")
    assert web.image.registry.url == catalog.settings.default_registry_url

    # database: its master credentials, its port
    creds = (await catalog.api.get(f"/database/{w.db}/masterCredentials")).json()
    assert db.database is not None and db.database.password == creds["password"]
    assert (db.database.type, db.database.version, db.database.port, db.database.login) == (
        "POSTGRESQL", "16", 5432, "superuser",
    )  # fmt: skip
    assert [(p.internal_port, p.protocol, p.publicly_accessible) for p in db.ports] == [(5432, "TCP", False)]
    assert db.internal_host == f"db-z{short(w.db)}"
    # …and what its container needs: the official image's credential variables (secret), a TCP readiness
    # probe on its port, one persistent volume for its data
    assert (db.env["POSTGRES_USER"], db.env["POSTGRES_PASSWORD"]) == (creds["login"], creds["password"])
    assert "POSTGRES_PASSWORD" in db.secret_keys and "POSTGRES_USER" not in db.secret_keys
    # only those: the project's and environment's variables (secrets included) are the applications'
    assert set(db.env) == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} and not db.files
    assert db.readiness_probe is not None and (db.readiness_probe.kind, db.readiness_probe.port) == ("tcp", 5432)
    assert [v.mount_point for v in db.volumes] == ["/var/lib/postgresql/data"]

    # ports, probes, hosts, custom domains
    assert [(p.internal_port, p.publicly_accessible, p.is_default, p.external_port) for p in web.ports] == [
        (80, True, True, 443),
        (9090, False, False, None),
    ]
    assert web.liveness_probe is not None and (web.liveness_probe.kind, web.liveness_probe.port) == ("tcp", 80)
    assert web.liveness_probe.period_seconds == 7 and web.readiness_probe is None
    assert api.readiness_probe is not None and api.readiness_probe.kind == "http"
    assert (api.readiness_probe.path, api.readiness_probe.port) == ("/ready", 8080)
    assert (api.cpu, api.memory) == (250, 256)
    assert web.custom_domains == [w.domain] and api.custom_domains == []
    assert web.host_slug == f"web-{(await catalog.api.get(f'/environment/{w.environment}')).json()['name']}"
    assert api.internal_host == f"app-z{short(w.app)}"

    # the application's variables: lower scope wins, overrides, aliases, built-ins, secrets, files
    db_host = f"db-z{short(w.db)}"
    password = creds["password"]
    head_db, head_api = w.head("POSTGRESQL", w.db), w.head("APPLICATION", w.app)
    expected = {
        "SHARED": "app",
        "LOG_LEVEL": "debug",
        "LEVEL": "debug",  # the environment's alias reads what LOG_LEVEL resolves to here
        "ENV_SECRET": "o-s3cret",
        "API_TOKEN": "a-s3cret",
        "DB_HOST": db_host,
        "DATABASE_URL": f"postgresql://superuser:{password}@{db_host}:5432/postgres",
        "CONFIG": "/etc/app/app.conf",
        "QOVERY_APPLICATION_ID": w.app,
        "QOVERY_ENVIRONMENT_ID": w.environment,
        "QOVERY_PROJECT_ID": w.project,
        f"{head_api}_HOST_INTERNAL": f"app-z{short(w.app)}",
        f"{head_api}_GIT_BRANCH": "main",
        f"{head_db}_HOST_INTERNAL": db_host,
        f"{head_db}_PORT": "5432",
        f"{head_db}_LOGIN": "superuser",
        f"{head_db}_PASSWORD": password,
        f"{head_db}_DATABASE_NAME": "postgres",
    }
    assert {k: api.env.get(k) for k in expected} == expected
    assert "JOB_VAR" not in api.env and "SECRET_ALIAS" not in api.env and "QOVERY_CONTAINER_ID" not in api.env
    assert list(api.env) == sorted(api.env)
    assert {"API_TOKEN", "ENV_SECRET", "DATABASE_URL", f"{head_db}_PASSWORD"} <= set(api.secret_keys)
    assert not {"SHARED", "LOG_LEVEL", "DB_HOST", "CONFIG"} & set(api.secret_keys)
    assert [f.model_dump() for f in api.files] == [
        {"key": "CONFIG", "path": "/etc/app/app.conf", "content": f"host={db_host} level=debug", "is_secret": False}
    ]
    # build arguments: every variable but the secrets (they would stay in the image's history)
    assert api.build_args == {k: v for k, v in api.env.items() if k not in api.secret_keys}
    assert "API_TOKEN" not in api.build_args and api.build_args["SHARED"] == api.env["SHARED"]

    # the container sees the environment's values, its own alias of a secret, nothing of the application's
    assert web.env["SHARED"] == "environment" and web.env["LOG_LEVEL"] == "info" and web.env["LEVEL"] == "info"
    assert web.env["ENV_SECRET"] == "e-s3cret" and web.env["SECRET_ALIAS"] == "e-s3cret"
    assert {"ENV_SECRET", "SECRET_ALIAS"} <= set(web.secret_keys)
    assert web.env["ENV_ID"] == w.environment and web.env["QOVERY_CONTAINER_ID"] == w.web
    assert "API_TOKEN" not in web.env and "DB_HOST" not in web.env
    assert [f.content for f in web.files] == ["host={{DB_HOST}} level=info"]  # unknown names stay as written
    assert job.env["JOB_VAR"] == "j" and job.env["API_HOST"] == f"app-z{short(w.app)}"
    assert "SHARED" not in db.env  # a database gets its credentials only


async def test_version_is_stable_and_follows_every_change(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    first, second = await snapshot(catalog, w.environment), await snapshot(catalog, w.environment)
    assert first.version == second.version and first.model_dump() == second.model_dump()
    seen = {first.version}

    async def changed() -> DesiredState:
        state = await snapshot(catalog, w.environment)
        assert state.version not in seen, "the version did not change"
        seen.add(state.version)
        again = await snapshot(catalog, w.environment)
        assert again.version == state.version
        return state

    # a variable edit
    shared = w.variables["shared_e"]
    r = await catalog.api.put(f"/variable/{shared['id']}", json={"key": "SHARED", "value": "env2"})
    assert r.status_code == 200, r.text
    state = await changed()
    assert state.service(w.web).env["SHARED"] == "env2"  # type: ignore[union-attr]
    # a secret's edit
    secret = w.variables["app_secret"]
    r = await catalog.api.put(f"/variable/{secret['id']}", json={"key": "API_TOKEN", "value": "rotated"})
    assert r.status_code == 200, r.text
    assert (await changed()).service(w.app).env["API_TOKEN"] == "rotated"  # type: ignore[union-attr]
    # a service edit
    web = (await catalog.api.get(f"/container/{w.web}")).json()
    edit = {k: web[k] for k in ("name", "registry_id", "image_name", "tag", "ports", "healthchecks", "storage")}
    r = await catalog.api.put(f"/container/{w.web}", json={**edit, "cpu": 750})
    assert r.status_code == 200, r.text
    assert (await changed()).service(w.web).cpu == 750  # type: ignore[union-attr]
    # a custom domain
    r = await catalog.api.post(
        f"/container/{w.web}/customDomain",
        json={"domain": f"api.{uuid.uuid4().hex[:8]}.example.org", "generate_certificate": False},
    )
    assert r.status_code == 201, r.text
    assert len((await changed()).service(w.web).custom_domains) == 2  # type: ignore[union-attr]

    # a version PUT: the commit to build, and every service's view of it
    before = await _events(catalog, w.app)
    assert (await put_version(catalog, w.app, {"git_commit_id": SHA.upper()})).status_code == 200
    state = await changed()
    api = state.service(w.app)
    assert api is not None and api.git is not None and api.git.commit == SHA
    assert state.service(w.web).env[f"{w.head('APPLICATION', w.app)}_GIT_COMMIT_ID"] == SHA  # type: ignore[union-attr]
    assert (await _events(catalog, w.app))[len(before) :] == ["evt.catalog.service.updated"]
    assert (await put_version(catalog, w.web, {"image_tag": "1.28"})).status_code == 200
    assert (await changed()).service(w.web).image.tag == "1.28"  # type: ignore[union-attr]
    assert (await put_version(catalog, w.job, {"git_commit_id": SHA})).status_code == 200
    assert (await changed()).service(w.job).git.commit == SHA  # type: ignore[union-attr]
    # the same version again changes nothing and says nothing
    events = await _events(catalog, w.web)
    assert (await put_version(catalog, w.web, {"image_tag": "1.28"})).status_code == 200
    assert (await snapshot(catalog, w.environment)).version in seen and await _events(catalog, w.web) == events


async def test_version_put_rules(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    version = (await snapshot(catalog, w.environment)).version
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (w.web, {"git_commit_id": SHA}, 400, "git_commit_id"),
        (w.db, {"git_commit_id": SHA}, 400, "git_commit_id"),
        (w.app, {"image_tag": "v2"}, 400, "image_tag"),
        (w.job, {"image_tag": "v2"}, 400, "image_tag"),  # built from Git
        (w.db, {"image_tag": "17"}, 400, "image_tag"),
        (w.app, {"git_commit_id": "main"}, 400, "git_commit_id"),
        (w.app, {"git_commit_id": "  "}, 400, "git_commit_id"),
        (w.app, {"git_commit_id": "0" * 40}, 400, "all-zero"),
        (w.app, {"git_commit_id": "0" * 64}, 400, "all-zero"),
        (w.web, {"image_tag": ""}, 400, "image_tag"),
        (w.web, {"image_tag": "bad tag"}, 400, "image_tag"),
        (w.web, {}, 400, "git_commit_id"),
        (w.app, {"git_commit_id": SHA, "image_tag": "v2"}, 400, "image_tag"),  # nothing is half-written
        (str(uuid.uuid4()), {"image_tag": "v2"}, 404, "not found"),
    ]
    for service_id, body, status, word in cases:
        r = await put_version(catalog, service_id, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["status"] == status and word in r.json()["detail"], r.text
    assert (await snapshot(catalog, w.environment)).version == version
    assert "evt.catalog.service.updated" not in await _events(catalog, w.app)
    async with httpx.AsyncClient(base_url=catalog.url, timeout=30) as client:
        r = await client.get(f"/internal/environment/{uuid.uuid4()}/desired-state", headers=deployer())
        assert r.status_code == 404 and r.json()["status"] == 404


async def test_only_services_read_the_desired_state(catalog: Catalog) -> None:  # noqa: F811
    w: World = await build_world(catalog)
    as_user = {HEADER: sign(user_principal(), KEY)}
    async with httpx.AsyncClient(base_url=catalog.url, timeout=30) as client:
        r = await client.get(f"/internal/environment/{w.environment}/desired-state", headers=as_user)
        assert r.status_code == 403 and GIT_TOKEN not in r.text
        r = await client.put(f"/internal/service/{w.web}/version", json={"image_tag": "x"}, headers=as_user)
        assert r.status_code == 403
        assert (await client.get(f"/internal/environment/{w.environment}/desired-state")).status_code == 401
    # the user's own client, signed as a user too
    assert (await catalog.api.get(f"/internal/environment/{w.environment}/desired-state")).status_code == 403
    assert json.loads((await catalog.api.get(f"/container/{w.web}")).text)["tag"] == "1.27"


async def test_the_sealed_state_decrypts_nothing_and_its_digests_follow_every_change(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    full = await snapshot(catalog, w.environment)
    view, raw = await sealed(catalog, f"environment/{w.environment}")
    password = (await catalog.api.get(f"/database/{w.db}/masterCredentials")).json()["password"]
    for secret in ("a-s3cret", "e-s3cret", "o-s3cret", GIT_TOKEN, password):
        assert secret not in raw  # no secret value, in any form the desired state gives it
    assert [s.id for s in view.services] == [s.id for s in full.services] and view.stages == full.stages
    assert view.cluster.kubeconfig is None
    assert all(s.spec_digest for s in view.services) and not any(s.spec_digest for s in full.services)
    again, _ = await sealed(catalog, f"environment/{w.environment}")  # stable while nothing changes
    assert {s.id: s.spec_digest for s in again.services} == {s.id: s.spec_digest for s in view.services}
    one, _ = await sealed(catalog, f"service/{w.web}")
    assert [s.id for s in one.services] == [w.web] and one.stages == full.stages
    assert one.service(w.web).spec_digest == view.service(w.web).spec_digest  # type: ignore[union-attr]

    digests = {s.id: s.spec_digest for s in view.services}
    secret = w.variables["app_secret"]
    r = await catalog.api.put(f"/variable/{secret['id']}", json={"key": "API_TOKEN", "value": "rotated"})
    assert r.status_code == 200, r.text
    after, raw = await sealed(catalog, f"environment/{w.environment}")
    assert "rotated" not in raw
    changed = {s.id for s in after.services if s.spec_digest != digests[s.id]}
    assert changed == {w.app}  # a new secret value: that service only is out of date

    # the version write answers the service's sealed state; a service of another kind is not touched
    r = await put_version(catalog, w.web, {"image_tag": "1.29"}, kind="CONTAINER")
    assert r.status_code == 200, r.text
    answered = DesiredState.model_validate(r.json())
    assert [s.id for s in answered.services] == [w.web] and answered.service(w.web).image.tag == "1.29"  # type: ignore[union-attr]
    assert answered.service(w.web).spec_digest != digests[w.web]  # type: ignore[union-attr]
    r = await put_version(catalog, w.web, {"image_tag": "1.30"}, kind="APPLICATION")
    assert r.status_code == 404 and "application not found" in r.json()["detail"]
    assert (await snapshot(catalog, w.environment)).service(w.web).image.tag == "1.29"  # type: ignore[union-attr]
