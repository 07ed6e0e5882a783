"""Pull (merge) request deliveries of GitHub, GitLab and Bitbucket, read into one shape: what happened to which PR.

Pure functions of the event name and the parsed body. Events:
- GitHub `pull_request` (opened, reopened, synchronize, closed) and `issue_comment` on a PR (created);
- GitLab `Merge Request Hook` (open, reopen, update with new commits, close, merge) and `Note Hook` on an MR;
- Bitbucket `pullrequest:created|updated|fulfilled|rejected` and `pullrequest:comment_created`.
A comment only matters when it asks for a preview (`/slipway preview`). A PR from a fork is reported as such:
its code does not come from the repository the services are built from (and must not run with their secrets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.webhooks.providers import Malformed, json_object

COMMAND = "/slipway preview"
OPENED, UPDATED, CLOSED, REQUESTED = "OPENED", "UPDATED", "CLOSED", "REQUESTED"
TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")  # GitHub's author associations of people with write access


@dataclass(frozen=True)
class PullEvent:
    action: str  # OPENED | UPDATED | CLOSED | REQUESTED (a `/slipway preview` comment)
    repositories: tuple[str, ...]  # the base repository's URLs
    path: str  # how the provider's API names the repository (owner/name; GitLab: namespace/project)
    number: int
    title: str = ""
    head_branch: str = ""
    head_commit: str = ""  # may be short (Bitbucket) or missing (a GitHub comment): the provider's API completes it
    base_branch: str = ""
    merged: bool = False
    fork: bool = False
    url: str = ""  # the PR's page


def is_pull_event(provider: str, event: str) -> bool:
    return (
        event
        in {
            "GITHUB": ("pull_request", "issue_comment"),
            "GITLAB": ("Merge Request Hook", "Note Hook"),
            "BITBUCKET": (
                "pullrequest:created",
                "pullrequest:updated",
                "pullrequest:fulfilled",
                "pullrequest:rejected",
                "pullrequest:comment_created",
            ),
        }[provider]
    )


def parse_pull(provider: str, event: str, body: bytes) -> PullEvent | None:
    """What the delivery says about a PR; None when it is nothing Slipway acts on (an edit, an unrelated
    comment, a comment on an issue)."""
    data = json_object(body)
    try:
        if provider == "GITHUB":
            return _github(event, data)
        if provider == "GITLAB":
            return _gitlab(event, data)
        return _bitbucket(event, data)
    except (KeyError, TypeError, AttributeError, ValueError):
        raise Malformed(f"not a {provider.title()} {event} payload") from None


def _urls(repo: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(repo[k]) for k in keys if isinstance(repo.get(k), str) and repo[k])


_GITHUB_URLS = ("clone_url", "ssh_url", "html_url", "git_url")


def _github(event: str, data: dict[str, Any]) -> PullEvent | None:
    repo = data["repository"]
    urls, path = _urls(repo, _GITHUB_URLS), str(repo["full_name"])
    if event == "issue_comment":
        issue = data["issue"]
        if data.get("action") != "created" or not issue.get("pull_request"):
            return None
        if COMMAND not in str(data["comment"].get("body") or ""):
            return None
        if data["comment"].get("author_association") not in TRUSTED:
            return None  # only people with write access to the repository may ask for a preview
        return PullEvent(REQUESTED, urls, path, int(issue["number"]), title=str(issue.get("title") or ""))
    action = {"opened": OPENED, "reopened": OPENED, "synchronize": UPDATED, "closed": CLOSED}.get(data["action"])
    if action is None:
        return None
    pr = data["pull_request"]
    head_repo = (pr["head"].get("repo") or {}).get("full_name")
    return PullEvent(
        action,
        urls,
        path,
        int(pr["number"]),
        title=str(pr.get("title") or ""),
        head_branch=str(pr["head"]["ref"]),
        head_commit=str(pr["head"]["sha"]),
        base_branch=str(pr["base"]["ref"]),
        merged=bool(pr.get("merged")),
        fork=head_repo is not None and head_repo != path,
        url=str(pr.get("html_url") or ""),
    )


_GITLAB_URLS = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url", "url", "homepage")


def _gitlab_pull(action: str, mr: dict[str, Any], urls: tuple[str, ...], path: str) -> PullEvent:
    source, target = mr.get("source_project_id"), mr.get("target_project_id")
    return PullEvent(
        action,
        urls,
        path,
        int(mr["iid"]),
        title=str(mr.get("title") or ""),
        head_branch=str(mr["source_branch"]),
        head_commit=str((mr.get("last_commit") or {}).get("id") or ""),
        base_branch=str(mr["target_branch"]),
        merged=mr.get("state") == "merged",
        fork=source is not None and target is not None and source != target,
        url=str(mr.get("url") or ""),
    )


def _gitlab(event: str, data: dict[str, Any]) -> PullEvent | None:
    project = data["project"]
    urls, path = _urls(project, _GITLAB_URLS), str(project["path_with_namespace"])
    attributes = data["object_attributes"]
    if event == "Note Hook":
        if attributes.get("noteable_type") != "MergeRequest" or COMMAND not in str(attributes.get("note") or ""):
            return None
        return _gitlab_pull(REQUESTED, data["merge_request"], urls, path)
    kind = attributes.get("action")
    if kind == "update" and not attributes.get("oldrev"):
        return None  # an edit of the title, labels or description: no new commit
    action = {"open": OPENED, "reopen": OPENED, "update": UPDATED, "close": CLOSED, "merge": CLOSED}.get(kind)
    return None if action is None else _gitlab_pull(action, attributes, urls, path)


def _bitbucket(event: str, data: dict[str, Any]) -> PullEvent | None:
    repo = data["repository"]
    path = str(repo["full_name"])
    urls = [f"https://bitbucket.org/{path}"]
    if (repo.get("links") or {}).get("html"):
        urls.insert(0, str(repo["links"]["html"]["href"]))
    pr = data["pullrequest"]
    if event == "pullrequest:comment_created":
        if COMMAND not in str((data["comment"].get("content") or {}).get("raw") or ""):
            return None
        action = REQUESTED
    else:
        action = {
            "pullrequest:created": OPENED,
            "pullrequest:updated": UPDATED,
            "pullrequest:fulfilled": CLOSED,
            "pullrequest:rejected": CLOSED,
        }[event]
    source_repo = ((pr["source"].get("repository") or {}).get("full_name")) or path
    return PullEvent(
        action,
        tuple(urls),
        path,
        int(pr["id"]),
        title=str(pr.get("title") or ""),
        head_branch=str(pr["source"]["branch"]["name"]),
        head_commit=str((pr["source"].get("commit") or {}).get("hash") or ""),
        base_branch=str(pr["destination"]["branch"]["name"]),
        merged=event == "pullrequest:fulfilled",
        fork=source_repo != path,
        url=str(((pr.get("links") or {}).get("html") or {}).get("href") or ""),
    )
