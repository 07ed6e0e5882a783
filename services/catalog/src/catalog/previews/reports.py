"""Reporting back to Git providers: a commit status for each deployment of a Git-built service, and one comment
per preview with its URLs, kept current as it deploys. Queued as `git_reports` rows in the transaction that owes
them and sent by `send_due` (each retried with a doubling delay), so a slow or failing provider delays nothing.

The repository's name at the provider comes from the deliveries Slipway received (`git_repositories`), else from
an https URL of a known provider host; the token is the service's own Git token, else the organization's oldest
of that provider. No token, no report (nothing is queued).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.gitapi.client import GitApi, GitApiError
from catalog.gittoken import service as tokens
from catalog.link.service import links
from catalog.models import Environment, GitReport, GitRepository, GitToken, Preview, Service
from catalog.settings import CatalogSettings
from catalog.webhooks.providers import provider_of, repository_key
from catalog.webhooks.service import git_source
from slipway.crypto import Keyring
from slipway.db import Database
from slipway.timeutil import utcnow

log = logging.getLogger("catalog.reports")
CONTEXT = "slipway"
HOSTS = {"github.com": "GITHUB", "gitlab.com": "GITLAB", "bitbucket.org": "BITBUCKET"}
# the deployer's service states → a commit status
_STATUS = {
    "QUEUED": "pending",
    "BUILDING": "running",
    "DEPLOYING": "running",
    "DEPLOYED": "success",
    "BUILD_ERROR": "failure",
    "DEPLOYMENT_ERROR": "failure",
    "CANCELED": "canceled",
}
_WORDS = {
    "pending": "queued",
    "running": "deploying",
    "success": "deployed",
    "failure": "failed",
    "canceled": "canceled",
}


def status_of(state: str) -> str | None:
    if state.endswith("_QUEUED") or state == "QUEUED":
        return "pending"
    return _STATUS.get(state)


async def where_of(session: AsyncSession, svc: Service) -> tuple[str, str] | None:
    """(provider, path) of the repository a Git-built service is built from, when Slipway can name it."""
    source = git_source(svc)
    if source is None:
        return None
    url = str(source["url"])
    stated = provider_of(str(source.get("provider") or ""))
    query = select(GitRepository).where(
        GitRepository.organization_id == svc.organization_id, GitRepository.repository == repository_key(url)
    )
    if stated:
        query = query.where(GitRepository.provider == stated)
    known = await session.scalar(query.order_by(GitRepository.seen_at.desc()).limit(1))
    if known is not None:
        return known.provider, known.path
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    provider = stated or HOSTS.get(host)
    path = parts.path.strip("/").removesuffix(".git")
    if provider and host and path.count("/") >= 1:
        return provider, path
    return None


async def _token_id(session: AsyncSession, svc: Service, provider: str) -> uuid.UUID | None:
    preferred = (git_source(svc) or {}).get("git_token_id")
    rows = await session.scalars(
        select(GitToken.id)
        .where(GitToken.organization_id == svc.organization_id, GitToken.type == provider)
        .order_by(GitToken.created_at, GitToken.id)
    )
    found = list(rows)
    if preferred and uuid.UUID(str(preferred)) in found:
        return uuid.UUID(str(preferred))
    return found[0] if found else None


async def commit_status(session: AsyncSession, svc: Service, commit: str, state: str, target_url: str) -> bool:
    """Queue the commit status of `svc`'s deployment at `commit`; False when nothing can be reported."""
    status = status_of(state)
    where = await where_of(session, svc)
    if status is None or where is None or len(commit) != 40:
        return False
    provider, path = where
    token_id = await _token_id(session, svc, provider)
    if token_id is None:
        return False
    context = f"{CONTEXT}/{svc.name}"[:255]
    last = await session.scalar(
        select(GitReport)
        .where(
            GitReport.kind == "STATUS",
            GitReport.path == path,
            GitReport.body["commit"].astext == commit,
            GitReport.body["context"].astext == context,
        )
        .order_by(GitReport.created_at.desc())
        .limit(1)
    )
    if last is not None and last.body.get("state") == status:
        return True  # said already (a service passes BUILDING and DEPLOYING: both are "running")
    body = {
        "commit": commit,
        "state": status,
        "context": context,
        "description": f"{svc.name}: {_WORDS[status]}",
        "url": target_url,
    }
    session.add(
        GitReport(
            id=uuid.uuid4(),
            organization_id=svc.organization_id,
            kind="STATUS",
            provider=provider,
            path=path,
            token_id=token_id,
            body=body,
            attempts=0,
        )
    )
    return True


async def preview_urls(session: AsyncSession, environment_id: uuid.UUID, https_port: int) -> list[tuple[str, str]]:
    rows = await session.scalars(
        select(Service)
        .where(Service.environment_id == environment_id, Service.kind.in_(("APPLICATION", "CONTAINER")))
        .order_by(Service.created_at, Service.id)
    )
    found = []
    for svc in rows:
        for link in await links(session, svc, https_port):
            found.append((svc.name, link.url))
    return found


async def preview_comment(session: AsyncSession, preview: Preview, env: Environment, phrase: str) -> bool:
    """Queue the preview's comment (written once, then edited) saying `phrase` with its URLs."""
    svc = await session.scalar(
        select(Service).where(Service.environment_id == env.id, Service.kind.in_(("APPLICATION", "JOB")))
    )
    repo = await session.scalar(
        select(GitRepository).where(
            GitRepository.organization_id == preview.organization_id,
            GitRepository.provider == preview.provider,
            GitRepository.repository == preview.repository,
        )
    )
    if repo is None:
        return False
    token_id = await _token_id(session, svc, preview.provider) if svc is not None else None
    if token_id is None:
        return False
    session.add(
        GitReport(
            id=uuid.uuid4(),
            organization_id=preview.organization_id,
            kind="COMMENT",
            provider=preview.provider,
            path=repo.path,
            token_id=token_id,
            preview_id=preview.id,
            body={"number": preview.number, "environment": env.name, "phrase": phrase},
            attempts=0,
        )
    )
    return True


def comment_text(environment: str, phrase: str, urls: list[tuple[str, str]], commit: str) -> str:
    lines = [f"**Slipway preview** `{environment}` {phrase} (commit `{commit[:12]}`).", ""]
    lines += [f"- {name}: {url}" for name, url in urls] or ["No service of this preview is public."]
    return "\n".join(lines)


async def _send(session: AsyncSession, report: GitReport, keys: Keyring, settings: CatalogSettings) -> None:
    token = await session.get(GitToken, report.token_id) if report.token_id else None
    if token is None:
        raise GitApiError("the Git token was deleted")
    async with GitApi(report.provider, tokens.secret(token, keys), token.git_api_url) as api:
        body: dict[str, Any] = report.body
        if report.kind == "STATUS":
            await api.status(
                report.path, body["commit"], body["state"], body["context"], body["description"], body["url"]
            )
            return
        preview = await session.get(Preview, report.preview_id, with_for_update=True)
        if preview is None or preview.environment_id is None:
            return  # the preview went: nothing to say any more
        newer = await session.scalar(
            select(GitReport.id)
            .where(GitReport.preview_id == report.preview_id, GitReport.created_at > report.created_at)
            .limit(1)
        )
        if newer is not None:
            return  # a later phrase replaces this one (sent in its turn)
        urls = await preview_urls(session, preview.environment_id, settings.edge_https_port)
        message = comment_text(body["environment"], body["phrase"], urls, preview.head_commit)
        preview.comment_id = await api.comment(report.path, int(body["number"]), message, preview.comment_id)


async def send_due(db: Database, keys: Keyring, settings: CatalogSettings, limit: int = 20) -> int:
    """Send the reports that are due (oldest first), each in its own transaction; how many were sent."""
    sent = 0
    for _ in range(limit):
        async with db.transaction() as session:
            report = await session.scalar(
                select(GitReport)
                .where(GitReport.sent_at.is_(None), GitReport.next_at <= text("now()"))
                .order_by(GitReport.next_at, GitReport.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if report is None:
                return sent
            try:
                await _send(session, report, keys, settings)
            except GitApiError as exc:
                report.attempts += 1
                report.last_error = str(exc)[:2000]
                if report.attempts >= settings.git_report_attempts:
                    report.sent_at = utcnow()  # given up: last_error says why
                    log.warning(
                        "gave up a %s report to %s after %d attempts: %s",
                        report.kind,
                        report.path,
                        report.attempts,
                        exc,
                    )
                else:
                    report.next_at = utcnow() + timedelta(seconds=min(2**report.attempts, 600))
                continue
            report.sent_at, report.last_error = utcnow(), None
            sent += 1
    return sent


_PHRASES = {
    "DEPLOYED": "is deployed",
    "DEPLOYMENT_ERROR": "failed to deploy",
    "BUILD_ERROR": "failed to build",
    "CANCELED": "was canceled",
}


async def on_status(session: AsyncSession, payload: dict[str, Any], settings: CatalogSettings) -> None:
    """A deployer status change: a service's becomes its commit status; a preview's finished deployment
    updates the preview's comment."""
    state = str(payload.get("state") or "")
    if payload.get("service_id"):
        svc = await session.get(Service, uuid.UUID(str(payload["service_id"])))
        if svc is None or git_source(svc) is None:
            return
        commit = str(payload.get("commit") or svc.config.get("git_commit_id") or "")
        found = await links(session, svc, settings.edge_https_port) if svc.kind == "APPLICATION" else []
        target = found[0].url if found else f"{settings.public_url.rstrip('/')}/{svc.kind.lower()}/{svc.id}/status"
        await commit_status(session, svc, commit, state, target)
        return
    phrase = _PHRASES.get(state)
    if phrase is None or not payload.get("environment_id"):
        return
    preview = await session.scalar(
        select(Preview).where(
            Preview.environment_id == uuid.UUID(str(payload["environment_id"])), Preview.state == "OPEN"
        )
    )
    env = await session.get(Environment, preview.environment_id) if preview and preview.environment_id else None
    if preview is not None and env is not None:
        await preview_comment(session, preview, env, phrase)
