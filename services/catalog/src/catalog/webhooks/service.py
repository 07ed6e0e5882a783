"""Git webhooks: each organization's per-provider secret, and what an accepted push does.

A delivery is verified against the organization's secret for that provider (providers.py), recorded once under
its delivery id (a replay finds its row and changes nothing), and a push pins every matching service — an
application or Git-built job with `auto_deploy`, on the pushed repository and branch — to the pushed commit,
then announces one `evt.catalog.git.pushed` per environment, in the same transaction: the deployer queues the
deployments from the event, so the provider gets its answer at once.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.events.publish import emit, emit_service
from catalog.models import GitWebhookSecret, Preview, Service, WebhookDelivery
from catalog.webhooks import providers as P
from catalog.workload import restrictions
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.timeutil import utcnow


def _context(organization_id: uuid.UUID, provider: str) -> str:
    return f"git_webhook:{organization_id}:{provider}"


def secret_context(row: GitWebhookSecret) -> str:
    """The encryption context of a stored secret (key rotation re-encrypts under it)."""
    return _context(row.organization_id, row.provider)


async def secrets_of(session: AsyncSession, organization_id: uuid.UUID, keys: Keyring) -> dict[str, str]:
    """provider → secret; a provider without one gets a new one (the first read creates them)."""
    rows = await session.scalars(select(GitWebhookSecret).where(GitWebhookSecret.organization_id == organization_id))
    found = {r.provider: keys.decrypt(r.secret_encrypted, _context(organization_id, r.provider)) for r in rows}
    missing = [p for p in P.PROVIDERS if p not in found]
    if missing:
        for provider in missing:
            found[provider] = await _store(session, organization_id, provider, keys)
    return {p: found[p] for p in P.PROVIDERS}


async def _store(session: AsyncSession, organization_id: uuid.UUID, provider: str, keys: Keyring) -> str:
    value = secrets.token_urlsafe(32)
    sealed = keys.encrypt(value, _context(organization_id, provider))
    statement = insert(GitWebhookSecret).values(
        id=uuid.uuid4(),
        organization_id=organization_id,
        provider=provider,
        secret_encrypted=sealed,
        rotated_at=utcnow(),
    )
    await session.execute(
        statement.on_conflict_do_update(
            constraint="uq_git_webhook_secrets", set_={"secret_encrypted": sealed, "rotated_at": utcnow()}
        )
    )
    return value


async def rotate(
    session: AsyncSession, organization_id: uuid.UUID, keys: Keyring, provider: str | None
) -> dict[str, str]:
    """New secrets (for one provider, or all): deliveries signed with the old ones are refused from now on."""
    for name in [provider] if provider else list(P.PROVIDERS):
        await _store(session, organization_id, name, keys)
    return await secrets_of(session, organization_id, keys)


async def secret_for(session: AsyncSession, organization_id: uuid.UUID, provider: str, keys: Keyring) -> str | None:
    row = await session.scalar(
        select(GitWebhookSecret).where(
            GitWebhookSecret.organization_id == organization_id, GitWebhookSecret.provider == provider
        )
    )
    return None if row is None else keys.decrypt(row.secret_encrypted, secret_context(row))


async def record(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, delivery_id: str, event: str
) -> WebhookDelivery | None:
    """The delivery's row, or None when it was accepted before (a replay)."""
    statement = (
        insert(WebhookDelivery)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            provider=provider,
            delivery_id=delivery_id,
            event=event[:64],
            outcome={},
        )
        .on_conflict_do_nothing(constraint="uq_webhook_deliveries")
        .returning(WebhookDelivery.id)
    )
    created = await session.scalar(statement)
    return None if created is None else await session.get(WebhookDelivery, created)


def git_source(svc: Service) -> dict[str, Any] | None:
    """The repository an application or Git-built job is built from."""
    config = svc.config
    if svc.kind == "APPLICATION":
        return config.get("git_repository")  # type: ignore[no-any-return]
    if svc.kind == "JOB":
        docker = (config.get("source") or {}).get("docker")
        return docker.get("git_repository") if docker else None
    return None


def _matches(svc: Service, names: set[str], push: P.Push) -> bool:
    source = git_source(svc)
    if source is None or not svc.config.get("auto_deploy"):
        return False
    if P.repository_key(str(source["url"])) not in names or source.get("branch") != push.branch:
        return False
    return restrictions.allows(restrictions.of(svc.config), push.changed)  # its MATCH/EXCLUDE path rules


async def matching(session: AsyncSession, organization_id: uuid.UUID, push: P.Push) -> list[Service]:
    """The organization's auto-deployed services built from the pushed repository and branch, whose deployment
    restrictions let the push's paths through; their rows locked (an edit at the same moment waits, then the
    push sees it), in id order. A pull request's preview follows the PR's events, not pushes to its head branch
    (which would deploy it a second time)."""
    names = {P.repository_key(url) for url in push.repositories}
    rows = await session.scalars(
        select(Service).where(Service.organization_id == organization_id, Service.kind.in_(("APPLICATION", "JOB")))
    )
    previews = set(
        await session.scalars(
            select(Preview.environment_id).where(
                Preview.organization_id == organization_id, Preview.environment_id.is_not(None)
            )
        )
    )
    candidates = [svc.id for svc in rows if svc.environment_id not in previews and _matches(svc, names, push)]
    if not candidates:
        return []
    locked = await session.scalars(
        select(Service)
        .where(Service.id.in_(candidates))
        .order_by(Service.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return [svc for svc in locked if _matches(svc, names, push)]


async def deploy_push(
    session: AsyncSession, organization_id: uuid.UUID, provider: str, delivery: WebhookDelivery, push: P.Push
) -> dict[str, Any]:
    """Pin the matching services to the pushed commit and announce them per environment; the outcome."""
    by_environment: dict[uuid.UUID, list[Service]] = {}
    for svc in await matching(session, organization_id, push):
        config = dict(svc.config)
        if config.get("git_commit_id") != push.commit:
            config["git_commit_id"] = push.commit
            svc.config = config
            svc.updated_at = utcnow()
            await session.flush()
            await emit_service(session, Subjects.SERVICE_UPDATED, svc)
        by_environment.setdefault(svc.environment_id, []).append(svc)
    for environment_id, services in by_environment.items():
        payload = {
            "environment_id": str(environment_id),
            "project_id": str(services[0].project_id),
            "provider": provider,
            "delivery_id": delivery.delivery_id,
            "branch": push.branch,
            "commit": push.commit,
            "services": [{"id": str(s.id), "kind": s.kind, "name": s.name} for s in services],
        }
        await emit(session, Subjects.GIT_PUSHED, organization_id, environment_id, payload)
    outcome = {
        "branch": push.branch,
        "commit": push.commit,
        "services": [str(s.id) for group in by_environment.values() for s in group],
    }
    delivery.outcome = outcome
    return outcome
