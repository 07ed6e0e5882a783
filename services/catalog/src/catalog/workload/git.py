"""Git sources: which repository URLs, branches and paths a workload may be built from, and the token it uses."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import GitToken
from catalog.workload.schemas import GitRepositoryOut, GitRepositoryRequest
from slipway.errors import BadRequest

DEFAULT_BRANCH = "main"
DEFAULT_DOCKERFILE = "Dockerfile"
# scp-like `[user@]host:path` (what `git clone git@github.com:acme/api.git` takes)
_SCP = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:(?!//)(?P<path>\S+)$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
# git-check-ref-format, the parts that matter here (a leading '-' would read as an option of git)
_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|(//)|([\x00-\x20\x7f~^:?*\[\\])|(@\{)|(\.lock$)|([/.]$)")


def _printable(text: str) -> bool:
    return not any(ord(c) < 0x21 or ord(c) == 0x7F for c in text)


def _parent_free(path: str) -> bool:
    return ".." not in path.split("/")


def check_url(url: str, where: str) -> str:
    """The repository path of a URL Slipway can clone (https, ssh, scp-like or a local `file:///` mirror)."""
    field = f"{where}.url"
    if not _printable(url):
        raise BadRequest(f"{field}: must not contain spaces or control characters")
    if "://" not in url:
        match = _SCP.match(url)
        if match is None or url.startswith("-"):
            raise BadRequest(f"{field}: '{url}' is not a https://, ssh://, git@host:path or file:/// URL")
        if not _parent_free(match.group("path")):
            raise BadRequest(f"{field}: '{url}' must not contain '..'")
        return match.group("path")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadRequest(f"{field}: '{url}' is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/") or not _parent_free(parts.path) or parts.query:
            raise BadRequest(f"{field}: a file URL is file:///absolute/path, without '..'")
        return parts.path
    if scheme not in ("https", "ssh"):
        raise BadRequest(f"{field}: scheme '{parts.scheme}' is not supported (https, ssh, git@host:path or file:///)")
    if not parts.hostname or not _HOST.match(parts.hostname) or port == 0:
        raise BadRequest(f"{field}: '{url}' has no valid host")
    if scheme == "https" and (parts.username or parts.password):
        raise BadRequest(f"{field}: credentials do not belong in the URL; use git_token_id")
    if parts.path.strip("/") == "" or not _parent_free(parts.path):
        raise BadRequest(f"{field}: '{url}' names no repository")
    return parts.path


def check_branch(branch: str, where: str) -> str:
    if not branch or _BAD_REF.search(branch):
        raise BadRequest(f"{where}.branch: '{branch}' is not a valid branch name")
    return branch


def check_root_path(root_path: str, where: str) -> str:
    if not root_path.startswith("/") or not _parent_free(root_path) or not _printable(root_path):
        raise BadRequest(
            f"{where}.root_path: must be an absolute path inside the repository (starts with '/', no '..')"
        )
    return root_path


def check_dockerfile_path(path: str | None, field: str) -> str:
    """Relative to the root path; defaults to `Dockerfile`."""
    if path is None:
        return DEFAULT_DOCKERFILE
    if not path or path.startswith("/") or not _parent_free(path) or not _printable(path):
        raise BadRequest(f"{field}: must be a relative path inside the root path (no leading '/', no '..')")
    return path


async def _token(session: AsyncSession, organization_id: uuid.UUID, body: GitRepositoryRequest, where: str) -> None:
    if body.git_token_id is None:
        return
    token = await session.get(GitToken, body.git_token_id)
    if token is None or token.organization_id != organization_id:
        raise BadRequest(f"{where}.git_token_id: no such git token in this organization")
    if token.type != body.provider:
        raise BadRequest(f"{where}.git_token_id: a {token.type} token cannot be used with provider {body.provider}")


async def repository(
    session: AsyncSession, organization_id: uuid.UUID, body: GitRepositoryRequest, where: str = "git_repository"
) -> dict[str, Any]:
    """The stored form: `{url, branch, root_path, provider, git_token_id}`."""
    check_url(body.url, where)
    if body.git_token_id is not None and not body.url.lower().startswith("https://"):
        raise BadRequest(f"{where}.git_token_id: a git token is only used with https:// URLs")
    await _token(session, organization_id, body, where)
    return {
        "url": body.url,
        "branch": check_branch(body.branch if body.branch is not None else DEFAULT_BRANCH, where),
        "root_path": check_root_path(body.root_path if body.root_path is not None else "/", where),
        "provider": body.provider,
        "git_token_id": str(body.git_token_id) if body.git_token_id is not None else None,
    }


def same_source(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """Whether a pinned commit still belongs to the repository and branch."""
    return before is not None and (before["url"], before["branch"]) == (after["url"], after["branch"])


async def render(session: AsyncSession, stored: dict[str, Any]) -> GitRepositoryOut:
    path = check_url(stored["url"], "git_repository").rstrip("/")
    segments = [s for s in path.split("/") if s]
    name = segments[-1].removesuffix(".git") if segments else ""
    owner = segments[-2] if len(segments) > 1 else ""
    token_name = None
    if stored.get("git_token_id"):
        token = await session.get(GitToken, uuid.UUID(stored["git_token_id"]))
        token_name = token.name if token is not None else None
    return GitRepositoryOut(
        provider=stored["provider"],
        owner=owner,
        name=name,
        url=stored["url"],
        branch=stored["branch"],
        root_path=stored["root_path"],
        git_token_id=stored.get("git_token_id"),
        git_token_name=token_name,
    )
