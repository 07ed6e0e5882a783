"""One client over GitHub's, GitLab's and Bitbucket's REST APIs: a pull request's state, Slipway's comment on it,
and commit statuses, authenticated with an organization's Git token.

Base URLs: the token's `git_api_url` (a self-hosted provider) or the public API; GitLab's `/api/v4` and
Bitbucket's `/2.0` are added when the URL does not end with them. Every call has a short timeout; a refusal or
an unreachable provider raises `GitApiError` with the provider's answer (never the token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

PUBLIC = {"GITHUB": "https://api.github.com", "GITLAB": "https://gitlab.com", "BITBUCKET": "https://api.bitbucket.org"}
_SUFFIX = {"GITHUB": "", "GITLAB": "/api/v4", "BITBUCKET": "/2.0"}
# Slipway's states → each provider's commit status
_STATES = {
    "GITHUB": {
        "pending": "pending",
        "running": "pending",
        "success": "success",
        "failure": "failure",
        "canceled": "error",
    },
    "GITLAB": {
        "pending": "pending",
        "running": "running",
        "success": "success",
        "failure": "failed",
        "canceled": "canceled",
    },
    "BITBUCKET": {
        "pending": "INPROGRESS",
        "running": "INPROGRESS",
        "success": "SUCCESSFUL",
        "failure": "FAILED",
        "canceled": "STOPPED",
    },
}
STATES = tuple(_STATES["GITHUB"])


class GitApiError(Exception):
    """The provider refused a call or could not be reached."""


@dataclass(frozen=True)
class PullInfo:
    state: str  # OPEN | CLOSED | MERGED
    title: str
    head_branch: str
    head_commit: str
    base_branch: str
    fork: bool = False  # the head lives in another repository than the base


def base_url(provider: str, git_api_url: str | None) -> str:
    url = (git_api_url or PUBLIC[provider]).rstrip("/")
    suffix = _SUFFIX[provider]
    return url if not suffix or url.endswith(suffix) else url + suffix


class GitApi:
    def __init__(self, provider: str, token: str, git_api_url: str | None = None, timeout: float = 10.0) -> None:
        self.provider = provider
        if provider == "GITLAB":
            auth = {"PRIVATE-TOKEN": token}
        else:
            auth = {"Authorization": f"Bearer {token}"}
        headers = {**auth, "Accept": "application/json", "User-Agent": "Slipway"}
        self.http = httpx.AsyncClient(base_url=base_url(provider, git_api_url), headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> GitApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            r = await self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise GitApiError(f"{self.provider.title()} API unreachable: {type(exc).__name__}") from None
        if r.status_code >= 400:
            raise GitApiError(
                f"{self.provider.title()} API answered {r.status_code} to {method} {path}: {r.text[:300]}"
            )
        return r.json() if r.content else None

    def _project(self, path: str) -> str:
        return quote(path, safe="")

    # -- pull requests -------------------------------------------------------------------------------
    async def pull(self, path: str, number: int) -> PullInfo:
        if self.provider == "GITHUB":
            pr = await self._call("GET", f"/repos/{path}/pulls/{number}")
            state = "MERGED" if pr.get("merged") else ("OPEN" if pr["state"] == "open" else "CLOSED")
            fork = (pr["head"].get("repo") or {}).get("full_name") != (pr["base"].get("repo") or {}).get("full_name")
            return PullInfo(state, pr["title"], pr["head"]["ref"], pr["head"]["sha"], pr["base"]["ref"], fork)
        if self.provider == "GITLAB":
            mr = await self._call("GET", f"/projects/{self._project(path)}/merge_requests/{number}")
            state = {"opened": "OPEN", "merged": "MERGED"}.get(mr["state"], "CLOSED")
            fork = mr.get("source_project_id") != mr.get("target_project_id")
            return PullInfo(state, mr["title"], mr["source_branch"], mr["sha"], mr["target_branch"], fork)
        pr = await self._call("GET", f"/repositories/{path}/pullrequests/{number}")
        state = {"OPEN": "OPEN", "MERGED": "MERGED"}.get(pr["state"], "CLOSED")
        commit = await self.full_commit(path, pr["source"]["commit"]["hash"])
        source = (pr["source"].get("repository") or {}).get("full_name") or path
        target = (pr["destination"].get("repository") or {}).get("full_name") or path
        head, base = pr["source"]["branch"]["name"], pr["destination"]["branch"]["name"]
        return PullInfo(state, pr["title"], head, commit, base, source != target)

    async def full_commit(self, path: str, commit: str) -> str:
        """Bitbucket's deliveries name commits by a 12-character prefix: the full SHA a build needs."""
        if len(commit) == 40 or self.provider != "BITBUCKET":
            return commit
        found = await self._call("GET", f"/repositories/{path}/commit/{commit}")
        return str(found["hash"])

    async def comment(self, path: str, number: int, text: str, comment_id: str | None = None) -> str:
        """Write Slipway's comment on the PR (edit it when `comment_id` names it); its id."""
        if self.provider == "GITHUB":
            if comment_id:
                found = await self._call("PATCH", f"/repos/{path}/issues/comments/{comment_id}", {"body": text})
            else:
                found = await self._call("POST", f"/repos/{path}/issues/{number}/comments", {"body": text})
        elif self.provider == "GITLAB":
            notes = f"/projects/{self._project(path)}/merge_requests/{number}/notes"
            if comment_id:
                found = await self._call("PUT", f"{notes}/{comment_id}", {"body": text})
            else:
                found = await self._call("POST", notes, {"body": text})
        else:
            comments = f"/repositories/{path}/pullrequests/{number}/comments"
            body = {"content": {"raw": text}}
            if comment_id:
                found = await self._call("PUT", f"{comments}/{comment_id}", body)
            else:
                found = await self._call("POST", comments, body)
        return str(found["id"])

    # -- commit statuses ------------------------------------------------------------------------------
    async def status(self, path: str, commit: str, state: str, context: str, description: str, url: str) -> None:
        """Set `context`'s status on `commit`: `state` is one of STATES."""
        mapped = _STATES[self.provider][state]
        description = description[:140]
        if self.provider == "GITHUB":
            body = {"state": mapped, "context": context, "description": description}
            await self._call(
                "POST", f"/repos/{path}/statuses/{commit}", {**body, **({"target_url": url} if url else {})}
            )
        elif self.provider == "GITLAB":
            body = {"state": mapped, "name": context, "description": description}
            await self._call(
                "POST",
                f"/projects/{self._project(path)}/statuses/{commit}",
                {**body, **({"target_url": url} if url else {})},
            )
        else:
            key = context[:40]
            body = {
                "state": mapped,
                "key": key,
                "name": context,
                "description": description,
                "url": url or "https://slipway.invalid",
            }
            await self._call("POST", f"/repositories/{path}/commit/{commit}/statuses/build", body)
