"""A pull request's whole life on the real stack, through the gateway's GitHub receiver: opened → a PREVIEW
environment is built from the PR's head and its URL answers; a new commit → redeployed; merged → the preview and
everything it ran are gone. The provider's API is a local fake that records the comment and commit statuses."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from slipway_stack.gitfake import FakeProvider, fake_provider
from slipway_stack.testing import RunningStack
from tests.e2e_world import DOCKERFILE, TERMINAL, Repo, World, application_body, until

pytestmark = pytest.mark.stack


def github_pull(
    hook: dict[str, Any], repo_url: str, action: str, sha: str, merged: bool = False, base: str = "main"
) -> httpx.Response:
    """GitHub's pull_request delivery for PR #1 (`feature` into `base`) of `repo_url`, signed with the hook's secret."""
    pr = {
        "number": 1,
        "title": "New page",
        "state": "closed" if action == "closed" else "open",
        "merged": merged,
        "html_url": "https://github.com/acme/shop/pull/1",
        "head": {"ref": "feature", "sha": sha, "repo": {"full_name": "acme/shop"}},
        "base": {"ref": base, "repo": {"full_name": "acme/shop"}},
    }
    repository = {"full_name": "acme/shop", "clone_url": repo_url, "html_url": repo_url}
    body = json.dumps({"action": action, "number": 1, "pull_request": pr, "repository": repository}).encode()
    signature = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": f"sha256={signature}",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    return httpx.post(hook["url"], content=body, headers=headers, timeout=30)


class PreviewWorld(World):
    """A blueprint environment with preview on, an application following `main`, a GitHub token at the fake."""

    def setup_previews(self, fake: FakeProvider) -> None:
        org = self.ok(self.api.post("/organization", json={"name": "previewers", "plan": "FREE"}), 201)
        self.org = org["id"]
        self.project = self.ok(self.api.post(f"/organization/{self.org}/project", json={"name": "shop"}))["id"]
        self.env = self.ok(self.api.post(f"/project/{self.project}/environment", json={"name": "main"}), 201)
        rule = self.ok(self.api.get(f"/environment/{self.env['id']}/deploymentRule"))
        self.ok(
            self.api.put(
                f"/environment/{self.env['id']}/deploymentRule/{rule['id']}", json={**rule, "auto_preview": True}
            )
        )
        token = {"name": "gh", "type": "GITHUB", "token": "ghp-e2e", "git_api_url": fake.url}
        self.ok(self.api.post(f"/organization/{self.org}/gitToken", json=token), 201)
        self.first = self.repo.commit(DOCKERFILE, "main")
        app = application_body(self.repo.url, auto_preview=True)
        self.app = self.ok(self.api.post(f"/environment/{self.env['id']}/application", json=app), 201)
        hooks = self.ok(self.api.get(f"/slipway/organization/{self.org}/gitWebhook"))["results"]
        self.hook = next(h for h in hooks if h["provider"] == "GITHUB")
        self.repo.git("checkout", "-q", "-b", "feature")

    def pull(self, action: str, sha: str, merged: bool = False) -> httpx.Response:
        return github_pull(self.hook, self.repo.url, action, sha, merged)

    def previews(self) -> list[dict[str, Any]]:
        found = self.ok(self.api.get(f"/project/{self.project}/environment"))["results"]
        return [e for e in found if e["mode"] == "PREVIEW"]

    def preview_app(self, environment_id: str) -> dict[str, Any]:
        [app] = self.ok(self.api.get(f"/environment/{environment_id}/application"))["results"]
        return app  # type: ignore[no-any-return]

    def deployed(self, environment_id: str, after: set[str]) -> str:
        """Waits for a new deployment of the environment to end: its execution id (DEPLOYED asserted)."""

        def finished() -> dict[str, Any] | None:
            found = self.ok(self.api.get(f"/environment/{environment_id}/deploymentHistoryV2"))["results"]
            new = [h for h in found if h["identifier"]["execution_id"] not in after]
            return new[0] if new and new[0]["status"] in TERMINAL else None

        done = until(finished, 300, "the preview's deployment")
        assert done["status"] == "DEPLOYED", done
        return str(done["identifier"]["execution_id"])

    def serves(self, environment_id: str) -> str:
        app = self.preview_app(environment_id)
        links = self.ok(self.api.get(f"/application/{app['id']}/link"))["results"]
        host = str(links[0]["url"]).split("://", 1)[1].split(":")[0]
        r = httpx.get(f"{self.edge}/", headers={"Host": host}, timeout=5)
        return r.text.strip() if r.status_code == 200 else f"HTTP {r.status_code}"


@pytest.fixture(scope="module")
def previews(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PreviewWorld, FakeProvider]]:
    with fake_provider() as fake:
        w = PreviewWorld(stack, Repo(tmp_path_factory.mktemp("repo")))
        w.setup_previews(fake)
        yield w, fake
        for env in [*w.previews(), w.env]:
            w.api.delete(f"/environment/{env['id']}")


def test_a_pull_request_gets_a_preview_that_follows_it_and_goes_when_merged(
    previews: tuple[PreviewWorld, FakeProvider],
) -> None:
    w, fake = previews
    head = w.repo.commit(DOCKERFILE, "pr-1")
    opened = w.pull("opened", head)
    assert opened.status_code == 202, opened.text
    [preview] = until(w.previews, 30, "the preview environment")
    pid = preview["id"]
    assert preview["name"].startswith("[PR] main - New page")
    first = w.deployed(pid, set())
    assert w.serves(pid) == "pr-1"
    assert w.preview_app(pid)["git_repository"]["branch"] == "feature"
    assert w.serves(w.env["id"]) == "HTTP 404"  # the blueprint itself was never deployed: only the preview runs

    # the PR's comment names the preview's URL; the head commit's status went from pending to success
    def comments() -> list[Any]:
        return fake.recorded("POST", r"/issues/1/comments$") + fake.recorded("PATCH", r"/issues/comments/\d+$")

    until(lambda: any(".localhost" in str(c.body) for c in comments()), 30, "a comment with the preview's URL")

    def statuses() -> list[str]:
        return [c.body["state"] for c in fake.recorded("POST", rf"/repos/acme/shop/statuses/{head}$")]

    until(lambda: "success" in statuses(), 30, "the head commit's success status")
    assert statuses()[0] in ("pending", "running") and statuses()[-1] == "success", statuses()
    assert all(c.auth == "Bearer ghp-e2e" for c in comments())

    second = w.repo.commit(DOCKERFILE, "pr-2")
    assert w.pull("synchronize", second).status_code == 202
    w.deployed(pid, {first})
    assert w.serves(pid) == "pr-2"

    containers = w.containers_of(w.preview_app(pid)["id"])
    assert containers, "the preview's containers"
    app_id = w.preview_app(pid)["id"]

    def images() -> list[str] | None:  # what the builder built for the preview's application (one per commit)
        filters = json.dumps({"reference": [f"localhost/slipway/{app_id}"]})
        r = w.engine.get("/images/json", params={"filters": filters})
        if r.status_code != 200:  # Podman fails a listing that meets an image being removed: ask again
            return None
        return [t for i in r.json() for t in i.get("RepoTags") or [] if f"/slipway/{app_id}:" in t]

    assert len(until(images, 10, "the preview's images") or []) == 2, images()
    assert w.pull("closed", second, merged=True).status_code == 202
    until(lambda: w.api.get(f"/environment/{pid}").status_code == 404, 30, "the preview to be deleted")
    until(lambda: not w.containers_of(app_id), 120, "the preview's containers to go")
    until(lambda: images() == [], 60, "the preview's images to leave the engine")
    assert w.previews() == []
    assert w.api.get(f"/environment/{w.env['id']}").status_code == 200  # the blueprint stays
