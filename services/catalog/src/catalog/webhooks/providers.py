"""Git providers' webhook deliveries: who sent them (signature or token, compared in constant time) and what
they say (a push: repository, branch, commit, changed files), for GitHub, GitLab and Bitbucket.

Pure functions of the request's headers and raw body; nothing here touches the database.
- GitHub: `X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>`, event `X-GitHub-Event`, id `X-GitHub-Delivery`.
- GitLab: `X-Gitlab-Token: <secret>`, event `X-Gitlab-Event`, id `X-Gitlab-Event-UUID`.
- Bitbucket: `X-Hub-Signature: sha256=<HMAC-SHA256(secret, body)>`, event `X-Event-Key`, id `X-Request-UUID`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PROVIDERS = ("GITHUB", "GITLAB", "BITBUCKET")
_EVENT = {"GITHUB": "x-github-event", "GITLAB": "x-gitlab-event", "BITBUCKET": "x-event-key"}
_DELIVERY = {"GITHUB": "x-github-delivery", "GITLAB": "x-gitlab-event-uuid", "BITBUCKET": "x-request-uuid"}
_PUSH = {"GITHUB": "push", "GITLAB": "Push Hook", "BITBUCKET": "repo:push"}
MAX_ID = 128


class Refused(Exception):
    """The delivery is not from the provider (bad or missing signature or token)."""


class Malformed(Exception):
    """Signed, but not a delivery Slipway can read (its message says what is wrong)."""


@dataclass(frozen=True)
class Push:
    repositories: tuple[str, ...]  # every URL the provider names the repository by (https, ssh, web)
    branch: str
    commit: str
    changed: tuple[str, ...] | None = None  # paths the push touched; None: the provider does not say
    path: str = ""  # how the provider's API names the repository (owner/name, GitLab's namespace/project)
    extra: dict[str, Any] = field(default_factory=dict)


def provider_of(name: str) -> str | None:
    upper = name.upper()
    return upper if upper in PROVIDERS else None


def verify(provider: str, headers: dict[str, str], body: bytes, secret: str) -> None:
    """Raise Refused unless the delivery carries `secret`'s signature (or token) — compared in constant time."""
    if provider == "GITLAB":
        token = headers.get("x-gitlab-token", "")
        if not token or not hmac.compare_digest(token.encode(), secret.encode()):
            raise Refused("X-Gitlab-Token is missing or wrong")
        return
    header = "x-hub-signature-256" if provider == "GITHUB" else "x-hub-signature"
    given = headers.get(header, "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(f"{header} is missing or does not match the body")


def event_of(provider: str, headers: dict[str, str]) -> str:
    return headers.get(_EVENT[provider], "")


def delivery_of(provider: str, headers: dict[str, str]) -> str:
    """The provider's delivery id (a replay carries the same one); a signed delivery must name one."""
    found = headers.get(_DELIVERY[provider], "").strip()
    if not found or len(found) > MAX_ID or not found.isprintable():
        raise Malformed(f"{_DELIVERY[provider]}: a delivery id is required (at most {MAX_ID} printable characters)")
    return found


def is_push(provider: str, event: str) -> bool:
    return event == _PUSH[provider]


def json_object(body: bytes) -> dict[str, Any]:
    """A delivery's body, which every provider sends as a JSON object."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("the body is not a JSON object")
    return data


def parse_push(provider: str, body: bytes) -> Push | None:
    """The push a delivery describes; None for a push that updates no branch (a tag, a deleted branch)."""
    data = json_object(body)
    try:
        if provider == "BITBUCKET":
            return _bitbucket(data)
        return _github_or_gitlab(provider, data)
    except (KeyError, TypeError, AttributeError):
        raise Malformed(f"not a {provider.title()} push payload") from None


def _github_or_gitlab(provider: str, data: dict[str, Any]) -> Push | None:
    ref = str(data["ref"])
    commit = str(data.get("after") or data.get("checkout_sha") or "")
    if not ref.startswith("refs/heads/") or not commit or set(commit) == {"0"}:
        return None
    repo = data["repository"] if provider == "GITHUB" else data.get("project") or data["repository"]
    keys = ("clone_url", "ssh_url", "html_url", "git_http_url", "git_ssh_url", "web_url", "url", "homepage")
    urls = tuple(str(repo[k]) for k in keys if isinstance(repo.get(k), str) and repo[k])
    changed: set[str] = set()
    for entry in data.get("commits") or []:
        for key in ("added", "modified", "removed"):
            changed.update(str(p) for p in entry.get(key) or [])
    complete = provider == "GITHUB" or len(data.get("commits") or []) < 20  # GitLab lists at most 20 commits
    path = str(repo.get("full_name") or repo.get("path_with_namespace") or "")
    branch = ref.removeprefix("refs/heads/")
    return Push(urls, branch, commit, tuple(sorted(changed)) if complete else None, path=path)


def _bitbucket(data: dict[str, Any]) -> Push | None:
    changes = data["push"]["changes"]
    new = next((c["new"] for c in changes if c.get("new") and c["new"].get("type") == "branch"), None)
    if new is None:
        return None
    repo = data["repository"]
    urls = [str(repo["links"]["html"]["href"])] if repo.get("links", {}).get("html") else []
    if repo.get("full_name"):
        urls.append(f"https://bitbucket.org/{repo['full_name']}")
    path = str(repo.get("full_name") or "")
    return Push(tuple(urls), str(new["name"]), str(new["target"]["hash"]), None, path=path)  # pushes name no files


def repository_key(url: str) -> str:
    """One name for the URLs of one repository: host and path, lower-case, without `.git`, scheme or user
    (`https://github.com/Acme/API.git`, `git@github.com:acme/api` and `ssh://git@github.com/acme/api` agree;
    a `file:///` URL keeps its path)."""
    text = url.strip()
    if "://" not in text and ":" in text:  # scp-like git@host:path
        user_host, _, path = text.partition(":")
        host = user_host.rsplit("@", 1)[-1]
    else:
        parts = urlsplit(text)
        host = (parts.hostname or "") if parts.scheme != "file" else ""
        path = parts.path
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host.lower()}/{path.lower()}" if host else f"/{path}"
