"""Application services on the catalog app itself: Qovery's codes and schemas, Git sources, edits that keep values."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text

from slipway_stack.qovery_spec import check

from .test_clusters import Catalog, bad, catalog  # noqa: F401  (fixture)
from .test_containers import _environment, _events
from .test_containers import body as container_body

TOKEN = "ghp_ApplicationCloneSecret0123456789"
REPO = {"url": "https://github.com/acme/api.git", "branch": "main", "root_path": "/", "provider": "GITHUB"}
CONFIG_KEYS = {
    "git_repository",
    "git_commit_id",
    "dockerfile_path",
    "build_mode",
    "arguments",
    "entrypoint",
    "cpu",
    "memory",
    "gpu",
    "min_running_instances",
    "max_running_instances",
    "healthchecks",
    "ports",
    "storage",
    "auto_preview",
    "auto_deploy",
    "icon_uri",
    "host_slug",
}


def app(name: str = "api", repo: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "git_repository": repo or REPO, "healthchecks": {}, **extra}


async def _token(cat: Catalog, org: str, kind: str = "GITHUB", secret: str = TOKEN) -> str:
    r = await cat.api.post(
        f"/organization/{org}/gitToken", json={"name": f"t-{uuid.uuid4().hex[:6]}", "type": kind, "token": secret}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _config(cat: Catalog, service_id: str) -> dict[str, Any]:
    value = await cat.column("services", "config", service_id)
    return json.loads(value) if isinstance(value, str) else dict(value)


async def test_application_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    token = await _token(catalog, org)
    base = f"/environment/{eid}/application"
    ports = [
        {"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"},
        {"internal_port": 9090, "publicly_accessible": False, "protocol": "GRPC"},
    ]
    health = {"readiness_probe": {"type": {"http": {"path": "/ready", "port": 8080}}}}
    request = app(
        repo={**REPO, "branch": "release/1.x", "root_path": "/services/api", "git_token_id": token},
        description="backend",
        dockerfile_path="docker/Dockerfile",
        ports=ports,
        healthchecks=health,
        arguments=["--port", "8080"],
        entrypoint="/bin/api",
        cpu=1000,
        memory=1024,
        min_running_instances=1,
        max_running_instances=4,
        storage=[{"type": "FAST_SSD", "size": 10, "mount_point": "/data"}],
    )
    created = check(spec, "createApplication", await catalog.api.post(base, json=request))
    aid = created["id"]
    assert created["service_type"] == "APPLICATION" and created["environment"]["id"] == eid
    repo = created["git_repository"]
    assert (repo["url"], repo["branch"], repo["root_path"], repo["provider"]) == (
        "https://github.com/acme/api.git",
        "release/1.x",
        "/services/api",
        "GITHUB",
    )
    assert (repo["owner"], repo["name"], repo["git_token_id"]) == ("acme", "api", token)
    assert "deployed_commit_id" not in repo  # never deployed
    assert created["build_mode"] == "DOCKER" and created["dockerfile_path"] == "docker/Dockerfile"
    assert (created["maximum_cpu"], created["maximum_memory"], created["maximun_gpu"]) == (16_000, 16_384, 0)
    assert (created["cpu"], created["memory"], created["gpu"]) == (1000, 1024, 0)
    assert created["arguments"] == ["--port", "8080"] and created["entrypoint"] == "/bin/api"
    assert created["auto_preview"] is False and created["auto_deploy"] is False
    assert created["description"] == "backend" and created["icon_uri"] == "app://qovery-console/application"
    web, grpc = created["ports"]
    assert web["is_default"] is True and web["external_port"] == 443 and grpc["is_default"] is False
    assert created["storage"][0]["mount_point"] == "/data"

    config = await _config(catalog, aid)
    assert set(config) == CONFIG_KEYS
    assert config["git_repository"] == {
        "url": "https://github.com/acme/api.git",
        "branch": "release/1.x",
        "root_path": "/services/api",
        "provider": "GITHUB",
        "git_token_id": token,
    }
    assert config["git_commit_id"] is None and config["host_slug"].startswith("api-")
    assert config["ports"][0] == {**web, "public_path": None, "public_path_rewrite": None}

    listed = check(spec, "listApplication", await catalog.api.get(base))
    assert [a["id"] for a in listed["results"]] == [aid]
    assert (
        check(spec, "listApplication", await catalog.api.get(f"{base}?toUpdate=true"))["results"] == listed["results"]
    )
    got = check(spec, "getApplication", await catalog.api.get(f"/application/{aid}"))
    assert got == created

    # an edit keeps every optional key it omits
    edited = check(
        spec,
        "editApplication",
        await catalog.api.put(f"/application/{aid}", json={"healthchecks": health, "cpu": 2000}),
    )
    assert edited["cpu"] == 2000
    same = ("name", "description", "git_repository", "ports", "storage", "memory", "arguments", "dockerfile_path")
    assert {k: edited[k] for k in same} == {k: created[k] for k in same}
    # …one level deep in git_repository too
    r = await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "git_repository": {"branch": "main"}})
    moved = check(spec, "editApplication", r)
    assert moved["git_repository"]["branch"] == "main" and moved["git_repository"]["url"] == REPO["url"]
    assert moved["git_repository"]["git_token_id"] == token and "readiness_probe" not in moved["healthchecks"]
    # clients PUT back what they read: port ids are kept; the host slug never changes
    echoed = {**moved, "name": "API-2", "ports": [{**moved["ports"][0], "internal_port": 8081}]}
    renamed = check(spec, "editApplication", await catalog.api.put(f"/application/{aid}", json=echoed))
    assert renamed["name"] == "API-2" and [p["id"] for p in renamed["ports"]] == [web["id"]]
    assert (await _config(catalog, aid))["host_slug"] == config["host_slug"]
    assert (await catalog.api.get(f"/application/{aid}")).json() == renamed

    events = await _events(catalog, aid)
    assert [s for s, _ in events] == ["evt.catalog.service.created"] + ["evt.catalog.service.updated"] * 3
    assert all(payload == {"service_id": aid, "environment_id": eid, "kind": "APPLICATION"} for _, payload in events)

    check(spec, "deleteApplication", await catalog.api.delete(f"/application/{aid}"))
    assert (await catalog.api.get(f"/application/{aid}")).status_code == 404
    assert (await catalog.api.delete(f"/application/{aid}")).status_code == 404
    assert (await catalog.api.get(base)).json()["results"] == []
    assert [s for s, _ in await _events(catalog, aid)][-1] == "evt.catalog.service.deleted"
    async with catalog.app.state.db.transaction() as session:
        outbox = (await session.execute(text("SELECT string_agg(data, '') FROM catalog.outbox"))).scalar_one()
    assert TOKEN not in outbox


async def test_a_pinned_commit_survives_edits_of_the_same_branch_only(catalog: Catalog) -> None:  # noqa: F811
    eid, _, _ = await _environment(catalog)
    aid = (await catalog.api.post(f"/environment/{eid}/application", json=app())).json()["id"]
    async with catalog.app.state.db.transaction() as session:
        await session.execute(
            text(
                "UPDATE catalog.services SET config = jsonb_set(config, '{git_commit_id}', '\"abc123\"') WHERE id = :id"
            ),
            {"id": aid},
        )
    assert (await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "memory": 1024})).status_code == 200
    assert (await _config(catalog, aid))["git_commit_id"] == "abc123"
    r = await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "git_repository": {"branch": "dev"}})
    assert r.status_code == 200
    assert (await _config(catalog, aid))["git_commit_id"] is None


async def test_git_sources(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    base = f"/environment/{eid}/application"
    accepted = {
        "ssh://git@git.example.com:2222/team/tools/api.git": ("tools", "api"),
        "git@github.com:acme/web.git": ("acme", "web"),
        "file:///srv/git/mirror/worker.git": ("mirror", "worker"),
        "https://gitlab.example.com/group/sub/svc": ("sub", "svc"),
    }
    for i, (url, (owner, name)) in enumerate(accepted.items()):
        created = check(
            spec, "createApplication", await catalog.api.post(base, json=app(f"a{i}", {**REPO, "url": url}))
        )
        assert created["git_repository"]["url"] == url
        assert (created["git_repository"]["owner"], created["git_repository"]["name"]) == (owner, name)
    created = check(
        spec,
        "createApplication",
        await catalog.api.post(base, json=app("defaults", {"url": REPO["url"], "provider": "GITLAB"})),
    )
    assert (created["git_repository"]["branch"], created["git_repository"]["root_path"]) == ("main", "/")
    assert created["dockerfile_path"] == "Dockerfile"

    foreign = await _token(catalog, str(uuid.uuid4()))
    gitlab = await _token(catalog, org, "GITLAB", "glpat-secret")
    rejected: list[tuple[dict[str, Any], str]] = [
        ({"url": "http://github.com/acme/api.git"}, "git_repository.url"),
        ({"url": "ftp://github.com/acme/api.git"}, "git_repository.url"),
        ({"url": "acme/api"}, "git_repository.url"),
        ({"url": "./api"}, "git_repository.url"),
        ({"url": "file://server/srv/api.git"}, "git_repository.url"),
        ({"url": "file://relative/api.git"}, "git_repository.url"),
        ({"url": "file:///srv/../etc/api.git"}, "git_repository.url"),
        ({"url": "https://bot:hunter2@github.com/acme/api.git"}, "git_repository.url"),
        ({"url": "https://github.com/"}, "git_repository.url"),
        ({"url": "https://github.com/acme/api .git"}, "git_repository.url"),
        ({"url": "-oProxyCommand=touch:x"}, "git_repository.url"),
        ({"url": "git@github.com:../../etc"}, "git_repository.url"),
        ({"root_path": "services/api"}, "git_repository.root_path"),
        ({"root_path": "/services/../.."}, "git_repository.root_path"),
        ({"branch": "--upload-pack=x"}, "git_repository.branch"),
        ({"branch": "a..b"}, "git_repository.branch"),
        ({"provider": "GITEA"}, "provider"),
        ({"provider": None}, "provider"),
        ({"git_token_id": foreign}, "git_repository.git_token_id"),
        ({"git_token_id": str(uuid.uuid4())}, "git_repository.git_token_id"),
        ({"git_token_id": gitlab}, "git_repository.git_token_id"),
        (
            {"url": "git@github.com:acme/api.git", "git_token_id": await _token(catalog, org)},
            "git_repository.git_token_id",
        ),
    ]
    for change, field in rejected:
        bad(await catalog.api.post(base, json=app("bad", {**REPO, **change})), field)
    for extra, field in [
        ({"dockerfile_path": "/Dockerfile"}, "dockerfile_path"),
        ({"dockerfile_path": "../Dockerfile"}, "dockerfile_path"),
        ({"build_mode": "BUILDPACKS"}, "build_mode"),
        ({"docker_target_build_stage": "builder"}, "docker_target_build_stage"),
    ]:
        bad(await catalog.api.post(base, json=app("bad", **extra)), field)
    assert "bad" not in [a["name"] for a in (await catalog.api.get(base)).json()["results"]]


async def test_application_input_is_validated_and_nothing_partial_is_written(catalog: Catalog) -> None:  # noqa: F811
    eid, _, _ = await _environment(catalog)
    base = f"/environment/{eid}/application"
    for missing in ("name", "git_repository", "healthchecks"):
        incomplete = app()
        del incomplete[missing]
        bad(await catalog.api.post(base, json=incomplete), missing)
    port = {"internal_port": 80, "publicly_accessible": True}
    for extra, field in [
        ({"healthchecks": {"liveness_probe": {"type": {"tcp": {"port": 81}}}}, "ports": [port]}, "liveness_probe"),
        ({"ports": [port, port]}, "internal_port"),
        ({"ports": [{**port, "protocol": "SCTP"}]}, "protocol"),
        ({"cpu": 0}, "cpu"),
        ({"cpu": 64_000}, "cpu"),
        ({"gpu": 1}, "gpu"),
        ({"min_running_instances": 3, "max_running_instances": 2}, "min_running_instances"),
        ({"storage": [{"type": "FAST_SSD", "size": 1, "mount_point": "/d"}]}, "size"),
    ]:
        bad(await catalog.api.post(base, json=app(**extra)), field)
    assert (await catalog.api.get(base)).json()["results"] == []

    aid = (await catalog.api.post(base, json=app(ports=[port]))).json()["id"]
    before = (await catalog.api.get(f"/application/{aid}")).json()
    bad(await catalog.api.put(f"/application/{aid}", json={"cpu": 1000}), "healthchecks")
    bad(await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "cpu": None}), "cpu")
    bad(await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "name": ""}), "name")
    bad(
        await catalog.api.put(
            f"/application/{aid}", json={"healthchecks": {}, "cpu": 1000, "git_repository": {"url": "ftp://x/y"}}
        ),
        "git_repository.url",
    )
    bad(await catalog.api.put(f"/application/{aid}", json=[1]), "body")
    assert (await catalog.api.get(f"/application/{aid}")).json() == before
    assert [s for s, _ in await _events(catalog, aid)] == ["evt.catalog.service.created"]


async def test_names_are_unique_per_environment_across_kinds(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    base = f"/environment/{eid}/application"
    assert (await catalog.api.post(base, json=app("web"))).status_code == 201
    r = await catalog.api.post(f"/environment/{eid}/container", json=container_body(registry, name="WEB"))
    assert r.status_code == 409 and "already taken" in r.json()["detail"]
    assert (
        await catalog.api.post(f"/environment/{eid}/container", json=container_body(registry, name="db"))
    ).status_code == 201
    assert (await catalog.api.post(base, json=app("Db"))).status_code == 409
    aid = (await catalog.api.post(base, json=app("worker"))).json()["id"]
    r = await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "name": "db"})
    assert r.status_code == 409
    assert (await catalog.api.get(f"/application/{aid}")).json()["name"] == "worker"
    other, _, _ = await _environment(catalog)
    assert (await catalog.api.post(f"/environment/{other}/application", json=app("web"))).status_code == 201


async def test_unknown_ids_and_other_kinds_are_not_found(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    nowhere = uuid.uuid4()
    assert (await catalog.api.post(f"/environment/{nowhere}/application", json=app())).status_code == 404
    assert (await catalog.api.get(f"/environment/{nowhere}/application")).status_code == 404
    assert (await catalog.api.get(f"/application/{nowhere}")).status_code == 404
    assert (await catalog.api.put(f"/application/{nowhere}", json=app())).status_code == 404
    assert (await catalog.api.delete(f"/application/{nowhere}")).status_code == 404
    cid = (await catalog.api.post(f"/environment/{eid}/container", json=container_body(registry))).json()["id"]
    assert (await catalog.api.get(f"/application/{cid}")).status_code == 404
    assert (await catalog.api.delete(f"/application/{cid}")).status_code == 404
    aid = (await catalog.api.post(f"/environment/{eid}/application", json=app())).json()["id"]
    assert (await catalog.api.get(f"/container/{aid}")).status_code == 404


async def test_applications_join_the_application_stage(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, _ = await _environment(catalog)
    aid = (await catalog.api.post(f"/environment/{eid}/application", json=app())).json()["id"]
    stages = check(
        spec, "ListEnvironmentDeploymentStage", await catalog.api.get(f"/environment/{eid}/deploymentStage")
    )["results"]
    by_name = {s["name"]: s["services"] for s in stages}
    [attached] = by_name["APPLICATION DEFAULT"]
    assert attached["service_id"] == aid and attached["service_type"] == "APPLICATION"
    assert all(services == [] for name, services in by_name.items() if name != "APPLICATION DEFAULT")


async def test_a_git_token_counts_its_services_and_cannot_be_deleted_while_used(catalog: Catalog) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    token = await _token(catalog, org)
    url = f"/organization/{org}/gitToken/{token}"
    assert (await catalog.api.get(url)).json()["associated_services_count"] == 0
    aid = (
        await catalog.api.post(f"/environment/{eid}/application", json=app(repo={**REPO, "git_token_id": token}))
    ).json()["id"]
    assert (await catalog.api.get(url)).json()["associated_services_count"] == 1
    listed = (await catalog.api.get(f"/organization/{org}/gitToken")).json()["results"]
    assert [t["associated_services_count"] for t in listed if t["id"] == token] == [1]
    r = await catalog.api.delete(url)
    assert r.status_code == 409 and "used by 1 service" in r.json()["detail"]
    assert (await catalog.api.delete(f"/application/{aid}")).status_code == 204
    assert (await catalog.api.delete(url)).status_code == 204
