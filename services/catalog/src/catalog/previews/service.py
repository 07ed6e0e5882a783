"""What a pull request does to preview environments: opened (or `/slipway preview`) → a PREVIEW clone of each
blueprint deployed at the PR's head; a new commit → redeployed there; closed or merged → marked for deletion.

A blueprint is an environment (not itself a preview) with a Git-built service on the PR's repository and base
branch, whose deployment rule has `auto_preview` (or `on_demand_preview`, then only on a `/slipway preview`
comment). In the clone, the services whose `auto_preview` is on follow the PR's head branch and commit; the others
keep the blueprint's. The deletion itself is the sweeper's (sweeper.py): it retries until it succeeds.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment import service as environments
from catalog.environment.clone import clone_with_services
from catalog.environment.schemas import CloneEnvironmentRequest
from catalog.events.publish import emit, emit_action_requested, emit_service
from catalog.gitapi.client import GitApi, GitApiError, PullInfo
from catalog.gittoken import service as tokens
from catalog.models import (
    DeploymentRule,
    Environment,
    GitRepository,
    GitToken,
    Preview,
    Service,
    WebhookDelivery,
)
from catalog.previews import reports
from catalog.settings import CatalogSettings
from catalog.webhooks import pulls as PR
from catalog.webhooks.providers import repository_key
from catalog.webhooks.service import git_source
from slipway.contracts import Subjects
from slipway.crypto import Keyring, keyring_from
from slipway.principal import Principal
from slipway.timeutil import utcnow

NAME_MAX = 255
FORKS = "pull requests from forks get no preview (their code would run with the blueprint's secrets)"
log = logging.getLogger("catalog.previews")


def preview_name(blueprint: str, title: str, branch: str, taken: set[str]) -> str:
    """Qovery's `[PR] <blueprint> - <title> - <branch>`, cut to fit and made unique in the project."""
    name = f"[PR] {blueprint} - {title.strip() or 'untitled'} - {branch}"[:NAME_MAX]
    n = 2
    unique = name
    while unique in taken:
        suffix = f" ({n})"
        unique = name[: NAME_MAX - len(suffix)] + suffix
        n += 1
    return unique


async def learn_repository(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, urls: tuple[str, ...], path: str
) -> None:
    """Remember how the provider names the repository behind `urls` (reports find it from any of them)."""
    for key in {repository_key(u) for u in urls}:
        statement = insert(GitRepository).values(
            id=uuid.uuid4(), organization_id=organization_id, provider=provider, repository=key, path=path
        )
        await session.execute(
            statement.on_conflict_do_update(constraint="uq_git_repositories", set_={"path": path, "seen_at": utcnow()})
        )


async def token_for(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, preferred: uuid.UUID | None, keys: Keyring
) -> tuple[GitToken, str] | None:
    """The organization's Git token for `provider`: `preferred` (a service's own) when it is one, else the oldest."""
    rows = await session.scalars(
        select(GitToken)
        .where(GitToken.organization_id == organization_id, GitToken.type == provider)
        .order_by(GitToken.created_at, GitToken.id)
    )
    found = list(rows)
    chosen = next((t for t in found if t.id == preferred), found[0] if found else None)
    return None if chosen is None else (chosen, tokens.secret(chosen, keys))


def _follows(svc: Service, names: set[str], branch: str) -> bool:
    source = git_source(svc)
    return source is not None and repository_key(str(source["url"])) in names and source.get("branch") == branch


async def blueprints(
    session: AsyncSession, organization_id: uuid.UUID, names: set[str], base_branch: str, requested: bool
) -> list[tuple[Environment, list[Service]]]:
    """Environments a PR against `base_branch` previews, each with its services built from the repository."""
    rows = await session.execute(
        select(Environment, DeploymentRule)
        .join(DeploymentRule, DeploymentRule.environment_id == Environment.id)
        .where(Environment.organization_id == organization_id, Environment.mode != "PREVIEW")
        .order_by(Environment.created_at, Environment.id)
    )
    found = []
    for env, rule in rows:
        if not (rule.auto_preview or (requested and rule.on_demand_preview)):
            continue
        services = await session.scalars(
            select(Service).where(Service.environment_id == env.id, Service.kind.in_(("APPLICATION", "JOB")))
        )
        built = [s for s in services if _follows(s, names, base_branch)]
        if built:
            found.append((env, built))
    return found


async def _complete(
    session: AsyncSession,
    organization_id: uuid.UUID,
    provider: str,
    event: PR.PullEvent,
    preferred: uuid.UUID | None,
    keys: Keyring,
) -> PR.PullEvent | str:
    """The event with the PR's head branch and full commit (asking the provider when the delivery lacks them);
    a string saying why it cannot be completed."""
    if event.head_branch and len(event.head_commit) == 40:
        return event
    found = await token_for(session, organization_id, provider, preferred, keys)
    if found is None:
        return f"no {provider.title()} Git token in the organization to read pull request #{event.number} with"
    token, secret = found
    try:
        async with GitApi(provider, secret, token.git_api_url) as api:
            info: PullInfo = await api.pull(event.path, event.number)
    except GitApiError as exc:
        return str(exc)
    if info.state != "OPEN":
        return f"pull request #{event.number} is {info.state.lower()}"
    return PR.PullEvent(
        event.action,
        event.repositories,
        event.path,
        event.number,
        title=info.title,
        head_branch=info.head_branch,
        head_commit=info.head_commit,
        base_branch=info.base_branch,
        fork=event.fork or info.fork,
        url=event.url,
    )


def _point(svc: Service, event: PR.PullEvent) -> bool:
    """Point an auto-previewed service at the PR's head; True when it changed."""
    config = dict(svc.config)
    if not config.get("auto_preview"):
        return False
    if svc.kind == "APPLICATION":
        source = dict(config["git_repository"])
        config["git_repository"] = {**source, "branch": event.head_branch}
    else:
        job_source = dict(config["source"])
        docker = dict(job_source["docker"])
        docker["git_repository"] = {**docker["git_repository"], "branch": event.head_branch}
        config["source"] = {**job_source, "docker": docker}
    config["git_commit_id"] = event.head_commit
    if config == svc.config:
        return False
    svc.config = config
    svc.updated_at = utcnow()
    return True


async def _open(
    session: AsyncSession,
    blueprint: Environment,
    provider: str,
    event: PR.PullEvent,
    settings: CatalogSettings,
    keys: Keyring,
    existing: Preview | None,
) -> Preview:
    taken = set(await session.scalars(select(Environment.name).where(Environment.project_id == blueprint.project_id)))
    name = preview_name(blueprint.name, event.title, event.head_branch, taken)
    who = Principal(kind="service", subject=f"webhook:{provider.lower()}", origin="GIT")
    request = CloneEnvironmentRequest(name=name, mode="PREVIEW")
    env, services = await clone_with_services(session, who, blueprint, request, keys)
    if settings.preview_ttl_hours > 0:
        env.expires_at = utcnow() + timedelta(hours=settings.preview_ttl_hours)
    names = {repository_key(u) for u in event.repositories}
    versions = {}
    for svc in services.values():
        if _follows(svc, names, event.base_branch) and _point(svc, event):
            versions[str(svc.id)] = {"git_commit_id": event.head_commit}
    await session.flush()
    preview = existing or Preview(
        id=uuid.uuid4(),
        organization_id=blueprint.organization_id,
        blueprint_id=blueprint.id,
        provider=provider,
        repository=repository_key(event.repositories[0]),
        number=event.number,
        attempts=0,
    )
    preview.environment_id, preview.state, preview.reason, preview.closed_at = env.id, "OPEN", None, None
    preview.title, preview.head_branch, preview.head_commit = event.title[:512], event.head_branch, event.head_commit
    preview.base_branch, preview.updated_at, preview.comment_id = event.base_branch, utcnow(), None
    if existing is None:
        session.add(preview)
    await session.flush()
    await emit_action_requested(session, env, "DEPLOY", None, versions, "GIT", f"{provider.lower()} PR #{event.number}")
    await reports.preview_comment(session, preview, env, "is being deployed")
    return preview


async def _update(session: AsyncSession, preview: Preview, provider: str, event: PR.PullEvent) -> list[str]:
    """Point the preview's auto-previewed services at the PR's new head and deploy them; their ids."""
    if preview.environment_id is None:
        return []
    env = await session.get(Environment, preview.environment_id)
    if env is None:
        return []
    names = {repository_key(u) for u in event.repositories}
    rows = await session.scalars(select(Service).where(Service.environment_id == env.id).with_for_update())
    moved = []
    for svc in rows:
        if _follows(svc, names, preview.head_branch) and _point(svc, event):
            await session.flush()
            await emit_service(session, Subjects.SERVICE_UPDATED, svc)
            moved.append(str(svc.id))
    preview.head_commit, preview.updated_at = event.head_commit, utcnow()
    if event.title:
        preview.title = event.title[:512]
    if moved:
        versions = {sid: {"git_commit_id": event.head_commit} for sid in moved}
        await emit_action_requested(
            session, env, "DEPLOY", moved, versions, "GIT", f"{provider.lower()} PR #{event.number}"
        )
        await reports.preview_comment(session, preview, env, f"is being redeployed at {event.head_commit[:12]}")
    return moved


async def delete_now(session: AsyncSession, preview: Preview, keys: Keyring) -> bool:
    """Delete a closed preview's environment in a savepoint; False (and counted) when that failed: the sweeper
    tries again."""
    try:
        async with session.begin_nested():
            env = await session.get(Environment, preview.environment_id) if preview.environment_id else None
            if env is not None:
                await environments.delete(session, env, keys)
                await session.flush()
    except Exception as exc:  # noqa: BLE001 - whatever failed, the preview stays CLOSED and is retried
        preview.attempts += 1
        preview.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("deleting preview %s failed (attempt %d): %s", preview.id, preview.attempts, exc)
        return False
    preview.state, preview.environment_id, preview.updated_at, preview.last_error = "DELETED", None, utcnow(), None
    return True


def close(preview: Preview, reason: str) -> None:
    preview.state, preview.reason, preview.closed_at, preview.updated_at = "CLOSED", reason[:255], utcnow(), utcnow()


async def pull_received(
    session: AsyncSession,
    organization_id: uuid.UUID,
    provider: str,
    delivery: WebhookDelivery,
    event: PR.PullEvent,
) -> None:
    """Queue an accepted pull request delivery for catalog's own consumer, in the receiver's transaction: the
    provider gets its answer at once, the clone, the deletion or the provider's API call happen from the event."""
    delivery.outcome = {"queued": True}
    payload = {"delivery": str(delivery.id), "provider": provider, "pull": dataclasses.asdict(event)}
    await emit(session, Subjects.GIT_PULL_RECEIVED, organization_id, delivery.id, payload)


async def act_on_pull(
    session: AsyncSession, organization_id: uuid.UUID, payload: dict[str, Any], settings: CatalogSettings
) -> None:
    """The consumer's half: act on the queued delivery and record the outcome with it."""
    pull = dict(payload["pull"])
    event = PR.PullEvent(**{**pull, "repositories": tuple(pull["repositories"])})
    outcome = await handle_pull(session, organization_id, payload["provider"], event, settings, keyring_from(settings))
    delivery = await session.get(WebhookDelivery, uuid.UUID(payload["delivery"]))
    if delivery is not None:
        delivery.outcome = outcome


async def handle_pull(
    session: AsyncSession,
    organization_id: uuid.UUID,
    provider: str,
    event: PR.PullEvent,
    settings: CatalogSettings,
    keys: Keyring,
) -> dict[str, Any]:
    """Act on a pull request event; the outcome (recorded with the delivery and answered to the provider)."""
    await learn_repository(session, organization_id, provider, event.repositories, event.path)
    names = {repository_key(u) for u in event.repositories}
    mine = list(
        await session.scalars(
            select(Preview)
            .where(
                Preview.organization_id == organization_id,
                Preview.provider == provider,
                Preview.repository.in_(names),
                Preview.number == event.number,
            )
            .order_by(Preview.created_at)
            .with_for_update()
        )
    )
    if event.action == PR.CLOSED:
        closing = [p for p in mine if p.state == "OPEN"]
        ids = [str(p.environment_id) for p in closing]
        for preview in closing:
            close(preview, "merged" if event.merged else "closed")
            await delete_now(session, preview, keys)  # or, when that fails, the sweeper's next pass
        return {"pull_request": event.number, "closed": ids}
    if event.fork:
        return {"pull_request": event.number, "ignored": FORKS}
    if event.action == PR.UPDATED:
        complete = await _complete(session, organization_id, provider, event, None, keys)
        if isinstance(complete, str) or complete.fork:
            return {"pull_request": event.number, "ignored": complete if isinstance(complete, str) else FORKS}
        updated = {
            str(p.environment_id): await _update(session, p, provider, complete) for p in mine if p.state == "OPEN"
        }
        return {"pull_request": event.number, "redeployed": updated}
    # OPENED or REQUESTED
    base = event.base_branch
    if not base:  # a GitHub comment names no branch: ask the provider
        complete = await _complete(session, organization_id, provider, event, None, keys)
        if isinstance(complete, str) or complete.fork:  # a comment's PR may come from a fork: the API tells
            return {"pull_request": event.number, "ignored": complete if isinstance(complete, str) else FORKS}
        event, base = complete, complete.base_branch
    opened: list[str] = []
    found = await blueprints(session, organization_id, names, base, requested=event.action == PR.REQUESTED)
    for blueprint, built in found:
        existing = next((p for p in mine if p.blueprint_id == blueprint.id), None)
        if existing is not None and existing.state == "OPEN" and existing.environment_id is not None:
            continue  # already previewed (a reopened PR whose preview still runs, a second comment)
        preferred = (git_source(built[0]) or {}).get("git_token_id")
        complete = await _complete(
            session, organization_id, provider, event, uuid.UUID(preferred) if preferred else None, keys
        )
        if isinstance(complete, str) or complete.fork:
            return {"pull_request": event.number, "ignored": complete if isinstance(complete, str) else FORKS}
        if existing is not None and existing.state == "CLOSED" and existing.environment_id is not None:
            existing.state, existing.reason, existing.closed_at = "OPEN", None, None  # reopened before it went
            await _update(session, existing, provider, complete)
            opened.append(str(existing.environment_id))
            continue
        preview = await _open(session, blueprint, provider, complete, settings, keys, existing)
        opened.append(str(preview.environment_id))
    return {"pull_request": event.number, "previews": opened}


async def preview_containers(
    session: AsyncSession,
    organization_id: uuid.UUID,
    image_name: str,
    tag: str,
    settings: CatalogSettings,
    keys: Keyring,
) -> list[str]:
    """Qovery's previewContainerEnvironments: each environment (not a preview) holding a container of `image_name`
    with preview on (its own `auto_preview`, or its environment rule's) at another tag is cloned as a PREVIEW with
    those containers at `tag`, deployed, and deleted by the sweeper once its time is up; the clones' ids (an
    environment already previewed at that tag is deployed again, not cloned twice)."""
    rows = await session.execute(
        select(Environment, DeploymentRule)
        .join(DeploymentRule, DeploymentRule.environment_id == Environment.id, isouter=True)
        .where(Environment.organization_id == organization_id, Environment.mode != "PREVIEW")
        .order_by(Environment.created_at, Environment.id)
    )
    done: list[str] = []
    for blueprint, rule in rows.all():
        containers = await session.scalars(
            select(Service).where(Service.environment_id == blueprint.id, Service.kind == "CONTAINER")
        )
        matching = [
            c
            for c in containers
            if c.config.get("image_name") == image_name
            and c.config.get("tag") != tag
            and (c.config.get("auto_preview") or (rule is not None and rule.auto_preview))
        ]
        if not matching:
            continue
        name = f"[PREVIEW] {blueprint.name} - {image_name}:{tag}"[:NAME_MAX]
        env = await session.scalar(
            select(Environment).where(Environment.project_id == blueprint.project_id, Environment.name == name)
        )
        if env is None:
            who = Principal(kind="service", subject="container-preview", origin="API")
            env, services = await clone_with_services(
                session, who, blueprint, CloneEnvironmentRequest(name=name, mode="PREVIEW"), keys
            )
            if settings.preview_ttl_hours > 0:
                env.expires_at = utcnow() + timedelta(hours=settings.preview_ttl_hours)
            for original in matching:
                copy = services[original.id]
                copy.config = {**copy.config, "tag": tag}
            await session.flush()
        await emit_action_requested(session, env, "DEPLOY", None, {}, "API", f"container preview {image_name}:{tag}")
        done.append(str(env.id))
    return done
