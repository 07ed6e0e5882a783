"""Deploy on push, through the gateway: a signed GitHub push deploys exactly the auto-deployed application of its
repository and branch at the pushed commit; a forged delivery is 401; a replay deploys nothing more; a stopped
application stays stopped; the accepted delivery is in the organization's audit trail."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from slipway_stack.testing import RunningStack
from tests.e2e_world import DOCKERFILE, Repo, World, application_body, until

pytestmark = pytest.mark.stack


def github_push(url: str, secret: str, repository: str, commit: str, delivery: str) -> httpx.Response:
    """A push to `main` of `repository`, signed as GitHub signs it, posted without Slipway credentials."""
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": commit,
            "repository": {"clone_url": repository, "html_url": repository},
            "commits": [{"id": commit, "added": [], "modified": ["index.html"], "removed": []}],
        }
    ).encode()
    headers = {
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }
    return httpx.post(url, content=body, headers=headers, timeout=30)


class PushWorld(World):
    def setup(self) -> None:
        org = self.ok(self.api.post("/organization", json={"name": "pushers", "plan": "FREE"}), 201)
        self.org = org["id"]
        project = self.ok(self.api.post(f"/organization/{self.org}/project", json={"name": "gitops"}))
        self.env = self.ok(self.api.post(f"/project/{project['id']}/environment", json={"name": "main"}), 201)
        self.first = self.repo.commit(DOCKERFILE, "v1")
        self.app = self.application("web", auto_deploy=True)
        self.manual = self.application("manual", auto_deploy=False)
        hooks = self.ok(self.api.get(f"/slipway/organization/{self.org}/gitWebhook"))["results"]
        self.hook = next(h for h in hooks if h["provider"] == "GITHUB")

    def application(self, name: str, auto_deploy: bool) -> dict[str, Any]:
        body = application_body(self.repo.url, name, auto_deploy=auto_deploy)
        return self.ok(self.api.post(f"/environment/{self.env['id']}/application", json=body), 201)

    def push(self, commit: str, delivery: str, secret: str | None = None) -> httpx.Response:
        return github_push(self.hook["url"], secret or self.hook["secret"], self.repo.url, commit, delivery)


@pytest.fixture(scope="module")
def pushes(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushWorld]:
    w = PushWorld(stack, Repo(tmp_path_factory.mktemp("repo")))
    w.setup()
    yield w
    w.api.post(f"/environment/{w.env['id']}/uninstall", json={})


def test_a_signed_push_deploys_the_auto_deployed_application_at_its_commit(pushes: PushWorld) -> None:
    assert pushes.hook["url"].startswith(pushes.stack.api_url)
    forged = pushes.push(pushes.first, str(uuid.uuid4()), secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["status"] == 401
    assert pushes.history() == []
    delivery = str(uuid.uuid4())
    accepted = pushes.push(pushes.first, delivery)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["services"] == [pushes.app["id"]]
    trail = pushes.ok(pushes.api.get(f"/slipway/organization/{pushes.org}/auditLog"))
    entries = trail.get("results", trail) if isinstance(trail, dict) else trail
    mine = [e for e in entries if e.get("action") == "git.webhook.accepted"]
    assert mine and mine[0]["actor_id"] == "webhook:github" and mine[0]["resource_id"] == delivery, entries[:3]
    until(lambda: pushes.history(), 30, "the push's deployment to be queued")
    execution = pushes.history()[0]["identifier"]["execution_id"]
    assert pushes.wait_terminal(execution, 300) == "DEPLOYED"
    assert pushes.get().text.strip() == "v1"
    deployed = pushes.ok(pushes.api.get(f"/application/{pushes.app['id']}/deploymentHistoryV2"))["results"]
    assert deployed and deployed[0]["identifier"].get("git_commit_id", pushes.first) == pushes.first
    manual = pushes.ok(pushes.api.get(f"/application/{pushes.manual['id']}/deploymentHistoryV2"))["results"]
    assert manual == []  # not auto-deployed: the push leaves it alone
    # replays of the accepted delivery deploy nothing more
    for _ in range(100):
        again = pushes.push(pushes.first, delivery)
        assert again.status_code == 202 and again.json()["status"] == "duplicate"
    time.sleep(2)
    assert len(pushes.history()) == 1


def test_a_push_leaves_a_stopped_application_stopped(pushes: PushWorld) -> None:
    stopped = pushes.ok(pushes.api.post(f"/application/{pushes.app['id']}/stop"), 202)
    assert pushes.wait_terminal(stopped["execution_id"]) == "STOPPED"
    before = len(pushes.history())
    second = pushes.repo.commit(DOCKERFILE, "v2")
    accepted = pushes.push(second, str(uuid.uuid4()))
    assert accepted.status_code == 202 and accepted.json()["services"] == [pushes.app["id"]]
    time.sleep(3)
    assert len(pushes.history()) == before
    assert pushes.status()["state"] == "STOPPED"
