"""Deployment restrictions on the catalog app itself: Qovery's codes and schemas for applications and jobs, the
checks on a path value, the MATCH/EXCLUDE decision, and a signed push that deploys only the services it concerns."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from catalog.workload.restrictions import allows, covers
from slipway_stack.qovery_spec import check

from .test_applications import _config, app
from .test_clusters import Catalog, bad, catalog  # noqa: F401  (fixture)
from .test_containers import _environment, _events
from .test_git_webhooks import COMMIT, URL, github_push, post, secrets_of, signed
from .test_jobs import job

GITHUB = {"url": URL, "branch": "main", "root_path": "/", "provider": "GITHUB"}
KEY = "deployment_restrictions"


def rule(mode: str = "MATCH", value: str = "src/", kind: str = "PATH") -> dict[str, str]:
    return {"mode": mode, "type": kind, "value": value}


async def _updates(cat: Catalog, service_id: str) -> int:
    return len([s for s, _ in await _events(cat, service_id) if s == "evt.catalog.service.updated"])


# -- routes ---------------------------------------------------------------------------------------------------


async def test_application_restrictions_match_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, _ = await _environment(catalog)
    created = (await catalog.api.post(f"/environment/{eid}/application", json=app(auto_deploy=True))).json()
    aid, base = created["id"], f"/application/{created['id']}/deploymentRestriction"
    updates = await _updates(catalog, aid)
    empty = check(spec, "getApplicationDeploymentRestrictions", await catalog.api.get(base))
    assert empty == {"results": []}

    first = check(spec, "createApplicationDeploymentRestriction", await catalog.api.post(base, json=rule()))
    assert (first["mode"], first["type"], first["value"]) == ("MATCH", "PATH", "src/")
    assert first["created_at"] == first["updated_at"]
    second = check(
        spec, "createApplicationDeploymentRestriction", await catalog.api.post(base, json=rule("EXCLUDE", "docs"))
    )
    listed = check(spec, "getApplicationDeploymentRestrictions", await catalog.api.get(base))
    assert [r["id"] for r in listed["results"]] == [first["id"], second["id"]]  # creation order
    assert listed["results"][0] == first

    # the same rule again, however its slashes are written: 409, nothing written
    for value in ("src/", "src", "/src/"):
        r = await catalog.api.post(base, json=rule(value=value))
        assert r.status_code == 409, r.text
        assert r.json()["status"] == 409 and "already exists" in r.json()["detail"]
    assert (await catalog.api.post(base, json=rule("EXCLUDE", "src"))).status_code == 201  # another mode: another rule

    edited = check(
        spec,
        "editApplicationDeploymentRestriction",
        await catalog.api.put(f"{base}/{first['id']}", json=rule(value="services/api")),
    )
    assert edited["id"] == first["id"] and edited["created_at"] == first["created_at"]
    assert edited["value"] == "services/api" and edited["updated_at"] >= first["updated_at"]
    same = await catalog.api.put(f"{base}/{first['id']}", json=rule(value="services/api/"))  # itself: fine
    assert check(spec, "editApplicationDeploymentRestriction", same)["value"] == "services/api/"
    # becoming another restriction of the application: the edit has no 409 in the spec, so 400
    bad(await catalog.api.put(f"{base}/{first['id']}", json=rule("EXCLUDE", "docs/")), "value", "already exists")

    config = await _config(catalog, aid)
    assert [(r["mode"], r["value"]) for r in config[KEY]] == [
        ("MATCH", "services/api/"),
        ("EXCLUDE", "docs"),
        ("EXCLUDE", "src"),
    ]
    # an edit of the application keeps them; the restrictions themselves change nothing it deploys (no event)
    assert await _updates(catalog, aid) == updates
    put = await catalog.api.put(f"/application/{aid}", json={"healthchecks": {}, "cpu": 250})
    assert put.status_code == 200, put.text
    assert [r["id"] for r in (await _config(catalog, aid))[KEY]] == [r["id"] for r in config[KEY]]
    assert KEY not in put.json()

    gone = await catalog.api.delete(f"{base}/{second['id']}")
    check(spec, "deleteApplicationDeploymentRestriction", gone)
    assert (await catalog.api.delete(f"{base}/{second['id']}")).status_code == 404
    assert (await catalog.api.put(f"{base}/{second['id']}", json=rule())).status_code == 404
    for item in (await catalog.api.get(base)).json()["results"]:
        assert (await catalog.api.delete(f"{base}/{item['id']}")).status_code == 204
    assert KEY not in await _config(catalog, aid)  # none left: the key goes too

    unknown = uuid.uuid4()
    for r in (
        await catalog.api.get(f"/application/{unknown}/deploymentRestriction"),
        await catalog.api.post(f"/application/{unknown}/deploymentRestriction", json=rule()),
        await catalog.api.delete(f"/application/{unknown}/deploymentRestriction/{first['id']}"),
    ):
        assert r.status_code == 404 and r.json()["status"] == 404, r.text


async def test_job_restrictions_match_the_spec_and_stay_with_their_service(
    catalog: Catalog,  # noqa: F811
    spec: dict[str, Any],
) -> None:
    eid, _, _ = await _environment(catalog)
    docker = {"docker": {"git_repository": GITHUB}}
    created = (await catalog.api.post(f"/environment/{eid}/job", json=job(docker, auto_deploy=True))).json()
    jid, base = created["id"], f"/job/{created['id']}/deploymentRestriction"
    assert check(spec, "getJobDeploymentRestrictions", await catalog.api.get(base)) == {"results": []}
    made = check(spec, "createJobDeploymentRestriction", await catalog.api.post(base, json=rule(value="jobs/migrate")))
    assert (await catalog.api.post(base, json=rule(value="/jobs/migrate"))).status_code == 409
    listed = check(spec, "getJobDeploymentRestrictions", await catalog.api.get(base))
    assert listed["results"] == [made]
    edited = check(
        spec, "editJobDeploymentRestriction", await catalog.api.put(f"{base}/{made['id']}", json=rule("EXCLUDE", "x"))
    )
    assert (edited["id"], edited["mode"], edited["value"]) == (made["id"], "EXCLUDE", "x")
    put = await catalog.api.put(f"/job/{jid}", json={"name": "nightly", "healthchecks": {}, "cpu": 250})
    assert put.status_code == 200, put.text
    assert [r["id"] for r in (await _config(catalog, jid))[KEY]] == [made["id"]]

    # another service's restriction, or a job's restrictions under the application routes: 404, nothing changed
    other = (await catalog.api.post(f"/environment/{eid}/application", json=app("web"))).json()
    theirs = f"/application/{other['id']}/deploymentRestriction"
    assert (await catalog.api.post(theirs, json=rule())).status_code == 201
    for r in (
        await catalog.api.put(f"{theirs}/{made['id']}", json=rule()),
        await catalog.api.delete(f"{theirs}/{made['id']}"),
        await catalog.api.get(f"/application/{jid}/deploymentRestriction"),
        await catalog.api.get(f"/job/{other['id']}/deploymentRestriction"),
        await catalog.api.post(f"/job/{other['id']}/deploymentRestriction", json=rule()),
    ):
        assert r.status_code == 404 and r.json()["status"] == 404, r.text
    assert [r["id"] for r in (await catalog.api.get(base)).json()["results"]] == [made["id"]]
    check(spec, "deleteJobDeploymentRestriction", await catalog.api.delete(f"{base}/{made['id']}"))
    assert (await catalog.api.delete(f"{base}/{made['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "INCLUDE", "type": "PATH", "value": "src"}, "mode"),
        ({"mode": "match", "type": "PATH", "value": "src"}, "mode"),
        ({"type": "PATH", "value": "src"}, "mode"),
        ({"mode": "MATCH", "type": "BRANCH", "value": "src"}, "type"),
        ({"mode": "MATCH", "value": "src"}, "type"),
        ({"mode": "MATCH", "type": "PATH"}, "value"),
        ({"mode": "MATCH", "type": "PATH", "value": 5}, "value"),
        (rule(value=""), "value"),
        (rule(value="/"), "value"),
        (rule(value="a/../b"), "value"),
        (rule(value=".."), "value"),
        (rule(value="./src"), "value"),
        (rule(value="a//b"), "value"),
        (rule(value="//a"), "value"),
        (rule(value="src\nlib"), "value"),
        (rule(value="src\x00"), "value"),
        (rule(value="a*/b"), "value"),
        (rule(value="a" * 256), "value"),
    ],
)
async def test_invalid_restrictions_are_400s_naming_the_field(
    catalog: Catalog,  # noqa: F811
    body: dict[str, Any],
    field: str,
) -> None:
    eid, _, _ = await _environment(catalog)
    aid = (await catalog.api.post(f"/environment/{eid}/application", json=app())).json()["id"]
    base = f"/application/{aid}/deploymentRestriction"
    bad(await catalog.api.post(base, json=body), field)
    made = (await catalog.api.post(base, json=rule())).json()
    bad(await catalog.api.put(f"{base}/{made['id']}", json=body), field)
    assert [r["value"] for r in (await catalog.api.get(base)).json()["results"]] == ["src/"]


async def test_accepted_values(catalog: Catalog) -> None:  # noqa: F811
    eid, _, _ = await _environment(catalog)
    aid = (await catalog.api.post(f"/environment/{eid}/application", json=app())).json()["id"]
    base = f"/application/{aid}/deploymentRestriction"
    for value in ("README.md", "/services/api", "docs/", "my prefix*", "é/ü.txt", "a" * 255, "x.y/.github"):
        r = await catalog.api.post(base, json=rule(value=value))
        assert r.status_code == 201, r.text
        assert r.json()["value"] == value  # answered as sent
    r = await catalog.api.post(base, json={**rule(value="extra"), "unknown": 1})
    assert r.status_code == 201, r.text


# -- the decision ---------------------------------------------------------------------------------------------


def test_prefixes_cover_whole_segments() -> None:
    assert covers("src", "src/a.py") and covers("src", "src") and covers("src/", "src/a/b.py")
    assert not covers("src", "srcs/a.py") and not covers("src/", "srcs/a.py") and not covers("src", "lib/src/a.py")
    assert covers("/src", "src/a.py") and covers("src", "/src/a.py")  # a leading '/' is ignored
    assert covers("services/api", "services/api/main.py") and not covers("services/api", "services/api2/x")
    assert covers("README.md", "README.md") and not covers("README.md", "README.md.bak")
    assert covers("docs*", "docs.md") and covers("docs*", "docs/a") and not covers("docs*", "doc/a")
    assert not covers("Src", "src/a.py")  # Git paths are case-sensitive


def test_the_decision() -> None:
    match = [rule("MATCH", "api/")]
    exclude = [rule("EXCLUDE", "docs")]
    both = [rule("MATCH", "api"), rule("EXCLUDE", "api/README.md")]
    # nothing to decide with
    assert allows([], ["anything"]) and allows([], None) and allows([], [])
    assert allows(match, None) and allows(exclude, None) and allows(both, None)  # the provider did not say
    # MATCH: only a push touching a matched path
    assert allows(match, ["api/main.py"]) and allows(match, ["docs/x.md", "api/main.py"])
    assert not allows(match, ["web/index.ts"]) and not allows(match, ["apis/x"]) and not allows(match, [])
    assert allows([rule("MATCH", "api"), rule("MATCH", "lib")], ["lib/util.py"])  # any MATCH rule
    # EXCLUDE: not a push touching only excluded paths
    assert not allows(exclude, ["docs/a.md"]) and not allows(exclude, ["docs/a.md", "docs/b/c.md", "docs"])
    assert allows(exclude, ["docs/a.md", "src/x.py"]) and allows(exclude, ["docsite/a.md"])
    assert allows(exclude, [])  # a push that changed nothing changed nothing excluded
    # both: a matched path counts only when it is not excluded
    assert allows(both, ["api/main.py"]) and allows(both, ["api/README.md", "api/main.py"])
    assert not allows(both, ["api/README.md"]) and not allows(both, ["api/README.md", "web/x"])
    assert not allows([rule("MATCH", "api"), rule("EXCLUDE", "web")], ["web/x"])
    assert allows([{"mode": "MATCH", "type": "BRANCH", "value": "x"}], ["y"])  # only PATH rules decide


# -- a push ---------------------------------------------------------------------------------------------------


async def test_a_push_deploys_only_the_services_its_paths_concern(catalog: Catalog) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)

    async def service(name: str, *rules: dict[str, str]) -> str:
        made = await catalog.api.post(f"/environment/{eid}/application", json=app(name, GITHUB, auto_deploy=True))
        for body in rules:
            r = await catalog.api.post(f"/application/{made.json()['id']}/deploymentRestriction", json=body)
            assert r.status_code == 201, r.text
        return str(made.json()["id"])

    api = await service("api", rule("MATCH", "services/api"))
    site = await service("site", rule("EXCLUDE", "docs/"), rule("EXCLUDE", "README.md"))
    plain = await service("plain")
    secret = (await secrets_of(catalog, org))["GITHUB"]["secret"]

    async def push(files: list[str], commit: str) -> list[str]:
        body = github_push(files=files).replace(COMMIT.encode(), commit.encode())
        r = await post(catalog, org, "github", body, signed(secret, body))
        assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
        return sorted(r.json()["services"])

    async def pinned(service_id: str) -> str | None:
        return (await _config(catalog, service_id)).get("git_commit_id")  # type: ignore[no-any-return]

    # an unrelated push: the MATCH-restricted service is neither pinned nor announced
    first = "1" * 40
    assert await push(["services/web/app.ts", "README.md"], first) == sorted([site, plain])
    assert await pinned(api) is None and await pinned(site) == first and await pinned(plain) == first
    pushed = [p for s, p in await _events(catalog, eid) if s == "evt.catalog.git.pushed"]
    assert [sorted(x["id"] for x in p["services"]) for p in pushed] == [sorted([site, plain])]

    # docs only: the EXCLUDE-restricted service stays where it was
    second = "2" * 40
    assert await push(["docs/guide.md", "README.md"], second) == [plain]
    assert await pinned(site) == first and await pinned(api) is None

    # a push touching the matched path pins it
    third = "3" * 40
    assert await push(["services/api/main.py", "docs/api.md"], third) == sorted([api, site, plain])
    assert await pinned(api) == third and await pinned(site) == third

    # once its restriction is gone, any push deploys it again
    rules = (await catalog.api.get(f"/application/{api}/deploymentRestriction")).json()["results"]
    assert (await catalog.api.delete(f"/application/{api}/deploymentRestriction/{rules[0]['id']}")).status_code == 204
    fourth = "4" * 40
    assert api in await push(["services/web/app.ts"], fourth)
    assert await pinned(api) == fourth
    assert json.dumps(await _config(catalog, api)).count(KEY) == 0
