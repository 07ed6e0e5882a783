"""Business rules for bootstrap accounts and API tokens; never commits (the entrypoint does)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from iam.events import emit
from iam.models import ApiToken, User
from iam.tokens.repository import IamRepository
from iam.tokens.secrets import display_prefix, hash_secret, new_secret
from slipway.contracts import AccountCreated, ApiTokenCreated, ApiTokenRevoked, Subjects
from slipway.errors import NotFound, Unauthorized
from slipway.principal import Principal
from slipway.timeutil import utcnow


@dataclass
class IssuedToken:
    user_id: uuid.UUID
    token_id: uuid.UUID
    secret: str


async def bootstrap_admin(session: AsyncSession, email: str) -> IssuedToken:
    """Ensure the instance administrator exists and issue a fresh admin API token."""
    repo = IamRepository(session)
    user = await repo.user_by_email(email)
    if user is None:
        user = User(id=uuid.uuid4(), email=email, is_admin=True)
        await repo.add(user)
        created = AccountCreated(user_id=user.id, email=email, is_admin=True)
        await emit(session, Subjects.ACCOUNT_CREATED, created.model_dump(mode="json"), user.id)
    return await issue_token(session, user, name="bootstrap admin token", description="created by make up")


async def issue_token(
    session: AsyncSession,
    user: User,
    *,
    name: str,
    description: str | None = None,
    organization_id: uuid.UUID | None = None,
    role_id: uuid.UUID | None = None,
) -> IssuedToken:
    secret = new_secret()
    token = ApiToken(
        id=uuid.uuid4(),
        name=name,
        description=description,
        token_hash=hash_secret(secret),
        display_prefix=display_prefix(secret),
        user_id=user.id,
        organization_id=organization_id,
        role_id=role_id,
    )
    await IamRepository(session).add(token)
    event = ApiTokenCreated(
        token_id=token.id,
        user_id=user.id,
        organization_id=organization_id,
        name=name,
        display_prefix=token.display_prefix,
    )
    await emit(session, Subjects.API_TOKEN_CREATED, event.model_dump(mode="json"), token.id)
    return IssuedToken(user_id=user.id, token_id=token.id, secret=secret)


async def introspect(session: AsyncSession, secret: str) -> Principal:
    found = await IamRepository(session).active_token_by_hash(hash_secret(secret))
    if found is None:
        raise Unauthorized("invalid or revoked API token")
    token, user = found
    return Principal(
        kind="api_token",
        subject=str(token.id),
        user_id=user.id,
        token_id=token.id,
        organization_id=token.organization_id,
        is_admin=user.is_admin,
    )


async def revoke(session: AsyncSession, token_id: uuid.UUID) -> None:
    token = await IamRepository(session).token(token_id)
    if token is None or token.revoked_at is not None:
        raise NotFound("API token not found")
    token.revoked_at = utcnow()
    await emit(
        session, Subjects.API_TOKEN_REVOKED, ApiTokenRevoked(token_id=token_id).model_dump(mode="json"), token_id
    )
