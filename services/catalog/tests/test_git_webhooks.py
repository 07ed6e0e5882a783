"""Git webhooks on the catalog app itself: per-organization secrets and their rotation, signatures checked for each
provider (a wrong or missing one is 401 and changes nothing), replays recorded once, unknown events ignored, and a
push pinning exactly the auto-deployed services of its repository and branch to its commit, announced per
environment."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

import httpx

from catalog.webhooks import providers as P

from .test_applications import app
from .test_clusters import Catalog, bad, catalog  # noqa: F401  (fixture)
from .test_containers import _environment, _events

COMMIT = "a" * 40
URL = "https://github.com/acme/api.git"
JSON = {"Content-Type": "application/json"}  # what every provider sends


def github_push(ref: str = "refs/heads/main", url: str = URL, files: list[str] | None = None) -> bytes:
    body = {
        "ref": ref,
        "after": COMMIT,
        "repository": {"clone_url": url, "ssh_url": "git@github.com:acme/api.git", "html_url": url[:-4]},
        "commits": [{"id": COMMIT, "added": files or ["src/app.py"], "modified": [], "removed": []}],
    }
    return json.dumps(body).encode()


def signed(secret: str, body: bytes, delivery: str | None = None, event: str = "push") -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


async def secrets_of(cat: Catalog, org: str) -> dict[str, dict[str, str]]:
    r = await cat.api.get(f"/slipway/organization/{org}/gitWebhook")
    assert r.status_code == 200, r.text
    return {x["provider"]: x for x in r.json()["results"]}


async def deliveries(cat: Catalog, org: str) -> int:
    from sqlalchemy import text

    async with cat.app.state.db.transaction() as session:
        found = await session.execute(
            text("SELECT count(*) FROM catalog.webhook_deliveries WHERE organization_id = :o"), {"o": org}
        )
        return int(found.scalar_one())


async def post(cat: Catalog, org: str, provider: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=cat.url, timeout=30) as anonymous:  # providers carry no credentials
        return await anonymous.post(f"/slipway/webhooks/{provider}/{org}", content=body, headers=headers)


async def test_secrets_are_per_organization_and_rotation_replaces_them(catalog: Catalog) -> None:  # noqa: F811
    _, _, org = await _environment(catalog)
    _, _, other = await _environment(catalog)
    first = await secrets_of(catalog, org)
    assert sorted(first) == ["BITBUCKET", "GITHUB", "GITLAB"]
    assert first["GITHUB"]["url"].endswith(f"/slipway/webhooks/github/{org}")
    assert first == await secrets_of(catalog, org)  # stable until rotated
    assert {x["secret"] for x in (await secrets_of(catalog, other)).values()}.isdisjoint(
        {x["secret"] for x in first.values()}
    )
    rotated = await catalog.api.post(f"/slipway/organization/{org}/gitWebhook/rotate", json={"provider": "github"})
    assert rotated.status_code == 200, rotated.text
    after = {x["provider"]: x["secret"] for x in rotated.json()["results"]}
    assert after["GITHUB"] != first["GITHUB"]["secret"] and after["GITLAB"] == first["GITLAB"]["secret"]
    body = github_push()
    old = await post(catalog, org, "github", body, signed(first["GITHUB"]["secret"], body))
    assert old.status_code == 401  # the old secret no longer signs anything
    bad(await catalog.api.post(f"/slipway/organization/{org}/gitWebhook/rotate", json={"provider": "svn"}), "provider")
    async with httpx.AsyncClient(base_url=catalog.url) as anonymous:
        assert (await anonymous.get(f"/slipway/organization/{org}/gitWebhook")).status_code == 401


async def test_forged_tampered_and_unsigned_deliveries_are_refused_and_change_nothing(catalog: Catalog) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    api = (await catalog.api.post(f"/environment/{eid}/application", json=app(auto_deploy=True))).json()
    secret = (await secrets_of(catalog, org))["GITHUB"]["secret"]
    body = github_push()
    attempts = [
        {k: v for k, v in signed(secret, body).items() if k != "X-Hub-Signature-256"},  # unsigned
        signed("not-the-secret", body),  # forged
        signed(secret, body + b" "),  # signed for another body
        {**signed(secret, body), "X-Hub-Signature-256": "sha1=" + "0" * 40},  # wrong algorithm
    ]
    for headers in attempts:
        r = await post(catalog, org, "github", body, headers)
        assert r.status_code == 401, r.text
        assert r.json()["status"] == 401 and "signature" in r.json()["detail"]
    r = await post(catalog, str(uuid.uuid4()), "github", body, signed(secret, body))  # another organization
    assert r.status_code == 401
    assert (await post(catalog, org, "svn", body, signed(secret, body))).status_code == 404
    gitlab = {"X-Gitlab-Token": "wrong", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "x", **JSON}
    assert (await post(catalog, org, "gitlab", body, gitlab)).status_code == 401
    assert await deliveries(catalog, org) == 0
    assert not [e for e in await _events(catalog, api["id"]) if e[0] == "evt.catalog.git.pushed"]


def test_ten_thousand_forged_or_tampered_signatures_verify_none() -> None:
    secret, body = secrets.token_urlsafe(32), github_push()
    good = signed(secret, body)
    accepted = 0
    for i in range(10_000):
        kind, payload = i % 4, body
        if kind == 0:
            headers = signed(secrets.token_urlsafe(32), body)  # forged with another secret
        elif kind == 1:
            tampered = bytearray(body)
            tampered[i % len(tampered)] ^= 1 + (i % 7)
            headers, payload = good, bytes(tampered)  # the body changed after signing
        elif kind == 2:
            flipped = list(good["X-Hub-Signature-256"])
            flipped[7 + i % 64] = "0" if flipped[7 + i % 64] != "0" else "1"
            headers = {**good, "X-Hub-Signature-256": "".join(flipped)}  # one digit of the signature
        else:
            headers = {**good, "X-Hub-Signature-256": ""}
        try:
            P.verify("GITHUB", {k.lower(): v for k, v in headers.items()}, payload, secret)
            accepted += 1
        except P.Refused:
            pass
    assert accepted == 0
    P.verify("GITHUB", {k.lower(): v for k, v in good.items()}, body, secret)  # the genuine one passes


async def test_a_push_pins_exactly_the_matching_auto_deployed_services(catalog: Catalog) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    repo = {"url": URL, "branch": "main", "root_path": "/", "provider": "GITHUB"}
    auto = (await catalog.api.post(f"/environment/{eid}/application", json=app("auto", repo, auto_deploy=True))).json()
    manual = (await catalog.api.post(f"/environment/{eid}/application", json=app("manual", repo))).json()
    other_branch = {**repo, "branch": "develop"}
    develop = (
        await catalog.api.post(f"/environment/{eid}/application", json=app("dev", other_branch, auto_deploy=True))
    ).json()
    ssh = {**repo, "url": "git@github.com:Acme/API.git"}  # the same repository, named another way
    scp = (await catalog.api.post(f"/environment/{eid}/application", json=app("scp", ssh, auto_deploy=True))).json()
    secret = (await secrets_of(catalog, org))["GITHUB"]["secret"]
    body = github_push()
    headers = signed(secret, body, delivery="delivery-1")
    r = await post(catalog, org, "github", body, headers)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["status"] == "accepted" and answer["commit"] == COMMIT
    assert sorted(answer["services"]) == sorted([auto["id"], scp["id"]])
    pushed = [p for s, p in await _events(catalog, eid) if s == "evt.catalog.git.pushed"]
    assert len(pushed) == 1 and pushed[0]["commit"] == COMMIT and pushed[0]["branch"] == "main"
    assert sorted(s["id"] for s in pushed[0]["services"]) == sorted([auto["id"], scp["id"]])
    for svc, commit in ((auto, COMMIT), (scp, COMMIT), (manual, None), (develop, None)):
        config = await catalog.column("services", "config", svc["id"])
        config = json.loads(config) if isinstance(config, str) else config
        assert config.get("git_commit_id") == commit, svc["name"]
    # a replay (same delivery id) is answered and does nothing more
    for _ in range(100):
        again = await post(catalog, org, "github", body, headers)
        assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert len([p for s, p in await _events(catalog, eid) if s == "evt.catalog.git.pushed"]) == 1
    assert await deliveries(catalog, org) == 1


async def test_other_events_and_providers(catalog: Catalog) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    repo = {"url": "https://gitlab.com/acme/web.git", "branch": "main", "root_path": "/", "provider": "GITLAB"}
    web = (await catalog.api.post(f"/environment/{eid}/application", json=app("web", repo, auto_deploy=True))).json()
    found = await secrets_of(catalog, org)
    ping = b'{"zen": "hi"}'
    r = await post(catalog, org, "github", ping, signed(found["GITHUB"]["secret"], ping, event="ping"))
    assert r.status_code == 202 and r.json()["status"] == "ignored"
    tag = github_push(ref="refs/tags/v1")
    r = await post(catalog, org, "github", tag, signed(found["GITHUB"]["secret"], tag))
    assert r.status_code == 202 and r.json()["status"] == "ignored"
    unsigned_garbage = b"not json"
    r = await post(catalog, org, "github", unsigned_garbage, signed(found["GITHUB"]["secret"], unsigned_garbage))
    bad(r, "JSON")
    gitlab = {
        "ref": "refs/heads/main",
        "checkout_sha": "b" * 40,
        "after": "b" * 40,
        "project": {"git_http_url": "https://gitlab.com/acme/web.git", "web_url": "https://gitlab.com/acme/web"},
        "commits": [{"added": [], "modified": ["README.md"], "removed": []}],
    }
    headers = {"X-Gitlab-Token": found["GITLAB"]["secret"], "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "g1"}
    headers.update(JSON)
    r = await post(catalog, org, "gitlab", json.dumps(gitlab).encode(), headers)
    assert r.status_code == 202 and r.json()["services"] == [web["id"]], r.text
    bitbucket: dict[str, Any] = {
        "push": {"changes": [{"new": {"type": "branch", "name": "main", "target": {"hash": "c" * 40}}}]},
        "repository": {"full_name": "acme/web", "links": {"html": {"href": "https://bitbucket.org/acme/web"}}},
    }
    payload = json.dumps(bitbucket).encode()
    signature = "sha256=" + hmac.new(found["BITBUCKET"]["secret"].encode(), payload, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature": signature, "X-Event-Key": "repo:push", "X-Request-UUID": "b1", **JSON}
    r = await post(catalog, org, "bitbucket", payload, headers)
    assert r.status_code == 202 and r.json()["services"] == [], r.text  # another repository: nothing to deploy


def test_repository_names_agree_across_url_forms() -> None:
    same = [
        "https://github.com/Acme/API.git",
        "https://github.com/acme/api",
        "git@github.com:acme/api.git",
        "ssh://git@github.com/acme/api",
        "https://github.com/acme/api/",
    ]
    assert len({P.repository_key(u) for u in same}) == 1
    assert P.repository_key("https://github.com/acme/api2") != P.repository_key(same[0])
    assert P.repository_key("https://gitlab.com/acme/api") != P.repository_key(same[0])
    assert P.repository_key("file:///srv/git/app.git") == P.repository_key("file:///srv/git/app")
