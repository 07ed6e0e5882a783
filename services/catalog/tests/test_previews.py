"""Preview environments on the catalog app: a signed GitHub pull request opens a PREVIEW clone of the blueprint
whose auto-previewed application follows the PR's head (and asks the deployer to deploy it), a new commit moves it,
closing deletes it; a close the catalog missed is found by the sweeper asking the provider (a local fake); the PR
gets Slipway's comment; the schedules fire at their times (the tests give the clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from catalog.environment.schedule import moments, tick
from catalog.main import create_app
from catalog.previews import reports
from catalog.previews.sweeper import sweep
from catalog.settings import CatalogSettings
from catalog.webhooks import pulls as PR
from slipway.crypto import keyring_from
from slipway_stack.gitfake import FakeProvider, fake_provider
from slipway_stack.testing import serve

from .test_clusters import KEY, Catalog, Signed, user_principal
from .test_containers import _environment, _events
from .test_git_webhooks import post, secrets_of, signed

HEAD, NEXT = "b" * 40, "c" * 40
URL = "https://github.com/acme/shop.git"


@pytest.fixture
async def quiet(database_url: str, nats_server) -> AsyncIterator[Catalog]:  # type: ignore[no-untyped-def]
    """The catalog with its periodic work slowed right down: the tests run each pass themselves."""
    settings = CatalogSettings(
        database_url=database_url,
        nats_url=nats_server.url,
        internal_auth_key=KEY,
        git_report_seconds=3600,
        preview_sweep_seconds=3600,
        schedule_seconds=3600,
    )
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, auth=Signed(user_principal()), timeout=30) as api:
        yield Catalog(app, settings, api, url)


def pull(action: str, number: int, sha: str, merged: bool = False) -> bytes:
    pr = {
        "number": number,
        "title": "Add a page",
        "state": "closed" if action == "closed" else "open",
        "merged": merged,
        "html_url": f"https://github.com/acme/shop/pull/{number}",
        "head": {"ref": "feature", "sha": sha, "repo": {"full_name": "acme/shop"}},
        "base": {"ref": "main", "repo": {"full_name": "acme/shop"}},
    }
    body = {"action": action, "number": number, "pull_request": pr}
    body["repository"] = {"full_name": "acme/shop", "clone_url": URL, "html_url": URL[:-4]}
    return json.dumps(body).encode()


async def blueprint(cat: Catalog, fake: FakeProvider) -> tuple[str, str, str]:
    """(organization, blueprint environment, application) with auto_preview on, and a GitHub token at `fake`."""
    eid, _, org = await _environment(cat)
    app = {
        "name": "web",
        "git_repository": {"url": URL, "branch": "main", "root_path": "/", "provider": "GITHUB"},
        "build_mode": "DOCKER",
        "dockerfile_path": "Dockerfile",
        "auto_preview": True,
        "auto_deploy": True,  # the blueprint follows pushes to main; its previews must not follow their branch
        "healthchecks": {},
        "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
    }
    token = {"name": "gh", "type": "GITHUB", "token": "ghp-secret", "git_api_url": fake.url}
    assert (await cat.api.post(f"/organization/{org}/gitToken", json=token)).status_code == 201
    made = await cat.api.post(f"/environment/{eid}/application", json=app)
    assert made.status_code == 201, made.text
    rule = (await cat.api.get(f"/environment/{eid}/deploymentRule")).json()
    edit = {**rule, "auto_preview": True}
    edit["start_time"], edit["stop_time"] = "1970-01-01T08:00:00Z", "1970-01-01T19:00:00Z"
    assert (await cat.api.put(f"/environment/{eid}/deploymentRule/{rule['id']}", json=edit)).status_code == 200
    return org, eid, made.json()["id"]


async def deliver(cat: Catalog, org: str, body: bytes, event: str = "pull_request") -> dict[str, Any]:
    """Post a signed delivery; once the catalog's consumer acted on it, what it did (the delivery's outcome)."""
    secret = (await secrets_of(cat, org))["GITHUB"]["secret"]
    r = await post(cat, org, "github", body, signed(secret, body, event=event))
    assert r.status_code == 202, r.text
    answer = r.json()
    if answer["status"] != "accepted" or event == "push":
        return answer  # type: ignore[no-any-return]
    assert set(answer) == {"status", "delivery_id", "pull_request", "action"}, answer  # answered before acting
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        async with cat.app.state.db.transaction() as session:
            found = await session.execute(
                text("SELECT outcome::text FROM catalog.webhook_deliveries WHERE delivery_id = :d"),
                {"d": answer["delivery_id"]},
            )
            outcome = json.loads(found.scalar_one())
        if outcome != {"queued": True}:
            return outcome  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, "the delivery was never acted on"
        await asyncio.sleep(0.1)


async def application_of(cat: Catalog, environment: str) -> dict[str, Any]:
    [found] = (await cat.api.get(f"/environment/{environment}/application")).json()["results"]
    return found  # type: ignore[no-any-return]


async def test_a_pull_request_life_opens_moves_and_deletes_its_preview(quiet: Catalog) -> None:
    with fake_provider() as fake:
        org, eid, _ = await blueprint(quiet, fake)
        opened = await deliver(quiet, org, pull("opened", 7, HEAD))
        [preview] = opened["previews"]
        env = (await quiet.api.get(f"/environment/{preview}")).json()
        assert (
            env["mode"] == "PREVIEW"
            and env["name"]
            == "[PR] " + (await quiet.api.get(f"/environment/{eid}")).json()["name"] + " - Add a page - feature"
        )
        app = await application_of(quiet, preview)
        assert app["git_repository"]["branch"] == "feature"
        asked = [p for s, p in await _events(quiet, preview) if s == "evt.catalog.environment.action.requested"]
        assert asked[-1]["action"] == "DEPLOY" and asked[-1]["service_ids"] is None
        assert asked[-1]["versions"] == {app["id"]: {"git_commit_id": HEAD}}
        # a replayed open changes nothing; the comment reaches the provider with the preview's URL
        assert (await deliver(quiet, org, pull("reopened", 7, HEAD)))["previews"] == []
        keys = keyring_from(quiet.settings)
        assert await reports.send_due(quiet.app.state.db, keys, quiet.settings) >= 1
        [comment] = fake.recorded("POST", r"/repos/acme/shop/issues/7/comments$")
        assert "is being deployed" in comment.body["body"] and comment.auth == "Bearer ghp-secret"
        # a new commit moves the preview's application and asks for its deployment there
        moved = await deliver(quiet, org, pull("synchronize", 7, NEXT))
        assert moved["redeployed"] == {preview: [app["id"]]}
        asked = [p for s, p in await _events(quiet, preview) if s == "evt.catalog.environment.action.requested"]
        assert asked[-1]["service_ids"] == [app["id"]] and asked[-1]["versions"][app["id"]] == {"git_commit_id": NEXT}
        # the push behind that new commit deploys nothing more: the preview follows its PR's events
        push = {"ref": "refs/heads/feature", "after": NEXT, "repository": {"clone_url": URL, "html_url": URL[:-4]}}
        pushed = await deliver(quiet, org, json.dumps(push).encode(), event="push")
        assert pushed["status"] == "accepted" and pushed["services"] == [], pushed
        # merged: the preview goes, with a tombstone for the deployer to uninstall what it ran
        closed = await deliver(quiet, org, pull("closed", 7, NEXT, merged=True))
        assert closed["closed"] == [preview]
        assert (await quiet.api.get(f"/environment/{preview}")).status_code == 404
        gone = [p for s, p in await _events(quiet, preview) if s == "evt.catalog.environment.deleted"]
        assert gone and gone[0]["tombstone_id"]
        assert (await quiet.api.get(f"/environment/{eid}")).status_code == 200  # the blueprint stays


async def test_the_sweeper_deletes_a_preview_whose_close_was_missed_or_whose_time_ran_out(quiet: Catalog) -> None:
    with fake_provider() as fake:
        org, _, _ = await blueprint(quiet, fake)
        [missed] = (await deliver(quiet, org, pull("opened", 8, HEAD)))["previews"]
        [expiring] = (await deliver(quiet, org, pull("opened", 9, HEAD)))["previews"]
        fake.pulls[8] = {
            "state": "closed",
            "merged": False,
            "title": "t",
            "head": {"ref": "f", "sha": HEAD},
            "base": {"ref": "main"},
        }
        fake.pulls[9] = {
            "state": "open",
            "merged": False,
            "title": "t",
            "head": {"ref": "f", "sha": HEAD},
            "base": {"ref": "main"},
        }
        keys = keyring_from(quiet.settings)
        done = await sweep(quiet.app.state.db, keys)
        assert len(done["closed"]) == 1 and len(done["deleted"]) == 1, done
        assert (await quiet.api.get(f"/environment/{missed}")).status_code == 404
        assert (await quiet.api.get(f"/environment/{expiring}")).status_code == 200
        later = datetime.now(UTC) + timedelta(hours=quiet.settings.preview_ttl_hours + 1)
        done = await sweep(quiet.app.state.db, keys, now=later, ask=False)
        assert len(done["deleted"]) == 1, done
        assert (await quiet.api.get(f"/environment/{expiring}")).status_code == 404


async def test_a_fork_gets_no_preview_and_a_forged_pull_request_is_refused(quiet: Catalog) -> None:
    with fake_provider() as fake:
        org, _, _ = await blueprint(quiet, fake)
        body = json.loads(pull("opened", 11, HEAD))
        body["pull_request"]["head"]["repo"]["full_name"] = "mallory/shop"
        fork = await deliver(quiet, org, json.dumps(body).encode())
        assert "fork" in fork["ignored"]
        forged = await post(
            quiet,
            org,
            "github",
            pull("opened", 12, HEAD),
            signed("wrong", pull("opened", 12, HEAD), event="pull_request"),
        )
        assert forged.status_code == 401


def comment(number: int, association: str) -> bytes:
    body = {
        "action": "created",
        "issue": {"number": number, "title": "Add a page", "pull_request": {"url": "…"}},
        "comment": {"body": "looks good, /slipway preview please", "author_association": association},
        "repository": {"full_name": "acme/shop", "clone_url": URL, "html_url": URL[:-4]},
    }
    return json.dumps(body).encode()


def provider_pull(head_repo: str) -> dict[str, Any]:
    return {
        "state": "open",
        "merged": False,
        "title": "Add a page",
        "head": {"ref": "feature", "sha": HEAD, "repo": {"full_name": head_repo}},
        "base": {"ref": "main", "repo": {"full_name": "acme/shop"}},
    }


async def test_a_preview_comment_counts_only_from_a_writer_and_never_for_a_fork(quiet: Catalog) -> None:
    """A `/slipway preview` comment names no head repository: the provider's API says whether the PR comes from a
    fork (whose code must not run with the blueprint's secrets); only people with write access may ask."""
    with fake_provider() as fake:
        org, _, _ = await blueprint(quiet, fake)
        fake.pulls[21] = provider_pull("mallory/shop")
        fake.pulls[22] = provider_pull("acme/shop")
        stranger = await deliver(quiet, org, comment(22, "NONE"), event="issue_comment")
        assert "previews" not in stranger, stranger
        fork = await deliver(quiet, org, comment(21, "COLLABORATOR"), event="issue_comment")
        assert "fork" in fork["ignored"], fork
        [preview] = (await deliver(quiet, org, comment(22, "MEMBER"), event="issue_comment"))["previews"]
        app = await application_of(quiet, preview)
        assert app["git_repository"]["branch"] == "feature"
        assert len(fake.recorded("GET", r"/repos/acme/shop/pulls/2[12]$")) == 2  # asked once each


def test_each_provider_reads_into_one_pull_event() -> None:
    gitlab = {
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "acme/shop", "git_http_url": URL},
        "object_attributes": {
            "iid": 3,
            "title": "T",
            "action": "update",
            "oldrev": "a" * 40,
            "source_branch": "feature",
            "target_branch": "main",
            "last_commit": {"id": HEAD},
            "source_project_id": 1,
            "target_project_id": 1,
        },
    }
    event = PR.parse_pull("GITLAB", "Merge Request Hook", json.dumps(gitlab).encode())
    assert event is not None and (event.action, event.number, event.head_commit, event.fork) == (
        PR.UPDATED,
        3,
        HEAD,
        False,
    )
    gitlab["object_attributes"] = {**gitlab["object_attributes"], "oldrev": None}  # type: ignore[dict-item]
    assert PR.parse_pull("GITLAB", "Merge Request Hook", json.dumps(gitlab).encode()) is None  # a title edit
    bitbucket = {
        "repository": {"full_name": "acme/shop"},
        "pullrequest": {
            "id": 5,
            "title": "T",
            "source": {
                "branch": {"name": "feature"},
                "commit": {"hash": "bbbbbbbbbbbb"},
                "repository": {"full_name": "acme/shop"},
            },
            "destination": {"branch": {"name": "main"}},
        },
        "comment": {"content": {"raw": "please /slipway preview"}},
    }
    event = PR.parse_pull("BITBUCKET", "pullrequest:comment_created", json.dumps(bitbucket).encode())
    assert event is not None and (event.action, event.number, event.base_branch) == (PR.REQUESTED, 5, "main")
    closed = PR.parse_pull("BITBUCKET", "pullrequest:fulfilled", json.dumps(bitbucket).encode())
    assert closed is not None and closed.action == PR.CLOSED and closed.merged


def test_schedule_moments_follow_the_time_zone_and_the_weekdays() -> None:
    paris = "Europe/Paris"
    monday_7 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 07:00 in Paris
    fired = moments(paris, "08:00", "19:00", ["MONDAY"], monday_7, monday_7 + timedelta(hours=13))
    assert [(m.astimezone(UTC).hour, a) for m, a in fired] == [(7, "DEPLOY"), (18, "STOP")]
    assert moments(paris, "08:00", "19:00", ["TUESDAY"], monday_7, monday_7 + timedelta(hours=13)) == []
    # a week away: only the moments inside the window, oldest first
    week = moments("UTC", "08:00", "19:00", ["MONDAY", "FRIDAY"], monday_7, monday_7 + timedelta(days=7))
    assert [(m.weekday(), a) for m, a in week] == [(0, "DEPLOY"), (0, "STOP"), (4, "DEPLOY"), (4, "STOP")]


async def test_tick_starts_and_stops_an_environment_on_time_once(quiet: Catalog) -> None:
    eid, _, _ = await _environment(quiet)
    rule = (await quiet.api.get(f"/environment/{eid}/deploymentRule")).json()
    edit = {
        **rule,
        "auto_stop": True,
        "timezone": "UTC",
        "weekdays": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"],
    }
    edit["start_time"], edit["stop_time"] = "1970-01-01T08:00:00Z", "1970-01-01T19:00:00Z"
    assert (await quiet.api.put(f"/environment/{eid}/deploymentRule/{rule['id']}", json=edit)).status_code == 200
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)

    async def at(hour: int, minute: int = 0) -> list[tuple[str, str]]:
        async with quiet.app.state.db.transaction() as session:
            fired = await tick(session, today.replace(hour=hour, minute=minute))
        return [f for f in fired if f[0] == eid]

    await at(7, 59)  # from the edit (today) to tomorrow 07:59: at most today's stop
    before = len(await _events(quiet, eid))
    assert await at(8, 1) == [(eid, "DEPLOY")]
    assert await at(8, 2) == []  # once
    assert await at(19, 0) == [(eid, "STOP")]
    asked = [p for s, p in (await _events(quiet, eid))[before:] if s == "evt.catalog.environment.action.requested"]
    assert [p["action"] for p in asked] == ["DEPLOY", "STOP"] and asked[0]["origin"] == "QOVERY_INTERNAL"
