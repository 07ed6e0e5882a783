"""Account rules: sign-up, password login with throttling, refresh-token rotation, logout; never commits."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from iam.account.keys import KeyRing
from iam.account.passwords import hash_password, verify_password
from iam.events import emit
from iam.models import Invitation, RefreshToken, User
from iam.settings import IamSettings
from slipway.contracts import AccountCreated, Subjects
from slipway.errors import Conflict, Forbidden, SlipwayError, TooManyRequests, Unauthorized
from slipway.timeutil import utcnow


@dataclass
class Session:
    access_token: str
    expires_in: int
    refresh_token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()


async def pending_invitation(session: AsyncSession, token: str) -> Invitation | None:
    return (
        await session.execute(
            select(Invitation).where(
                Invitation.token_hash == _digest(token),
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
        )
    ).scalar_one_or_none()


async def create_user(session: AsyncSession, email: str, **fields: str | None) -> User:
    if await user_by_email(session, email) is not None:
        raise Conflict("an account with this email already exists")
    user = User(id=uuid.uuid4(), email=email.lower(), is_admin=False, failed_logins=0, **fields)
    session.add(user)
    await session.flush()
    event = AccountCreated(user_id=user.id, email=user.email, is_admin=False)
    await emit(session, Subjects.ACCOUNT_CREATED, event.model_dump(mode="json"), user.id)
    return user


async def signup(
    session: AsyncSession,
    settings: IamSettings,
    email: str,
    password: str,
    first_name: str | None,
    last_name: str | None,
    invitation_token: str | None,
) -> User:
    invitation = await pending_invitation(session, invitation_token) if invitation_token else None
    if invitation_token and invitation is None:
        raise Forbidden("the invitation is invalid, expired or already used")
    if invitation is not None and invitation.email != email.lower():
        raise Forbidden("the invitation was sent to another email address")
    if invitation is None and not settings.signup_enabled:
        raise Forbidden("sign-up is by invitation only on this Slipway")
    user = await create_user(
        session, email, password_hash=hash_password(password), first_name=first_name, last_name=last_name
    )
    if invitation is not None:
        from iam.members.service import accept_invitation

        await accept_invitation(session, invitation, user)
    return user


async def login(
    session: AsyncSession, settings: IamSettings, keys: KeyRing, email: str, password: str
) -> Session | SlipwayError:
    """A session, or the error to answer. Failures are returned, not raised, so that the failure
    counter commits with the entrypoint's transaction (a raised error would roll it back)."""
    user = await user_by_email(session, email)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        return TooManyRequests(f"too many failed sign-in attempts; retry in {wait}s", retry_after=wait)
    if user is None or not verify_password(user.password_hash, password):
        if user is not None:
            user.failed_logins += 1
            over = user.failed_logins - settings.login_max_failures
            if over >= 0:
                user.locked_until = now + timedelta(seconds=min(30 * 2**over, 900))
        return Unauthorized("invalid email or password")
    user.failed_logins = 0
    user.locked_until = None
    return await open_session(session, settings, keys, user)


async def open_session(session: AsyncSession, settings: IamSettings, keys: KeyRing, user: User) -> Session:
    user.last_activity_at = utcnow()
    refresh = "srt_" + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=_digest(refresh),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    access, ttl = keys.issue(user)
    return Session(access, ttl, refresh)


async def refresh(session: AsyncSession, settings: IamSettings, keys: KeyRing, token: str) -> Session | SlipwayError:
    """A new session, or the error to answer (returned so the sign-out of a reused token commits)."""
    row = (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == _digest(token)).with_for_update())
    ).scalar_one_or_none()
    if row is None or row.expires_at <= utcnow():
        return Unauthorized("invalid or expired refresh token")
    if row.revoked_at is not None:
        # A rotated token came back: assume it was stolen and end every session of this user.
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == row.user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return Unauthorized("refresh token already used; all sessions were signed out")
    row.revoked_at = utcnow()
    user = await session.get(User, row.user_id)
    assert user is not None
    return await open_session(session, settings, keys, user)


async def logout(session: AsyncSession, token: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == _digest(token), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
