"""Every SQL statement for users and API tokens."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from iam.models import ApiToken, User


class IamRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_by_email(self, email: str) -> User | None:
        return (await self.session.execute(select(User).where(User.email == email))).scalar_one_or_none()

    async def add(self, obj: User | ApiToken) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def active_token_by_hash(self, token_hash: str) -> tuple[ApiToken, User] | None:
        row = (
            await self.session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def token(self, token_id: uuid.UUID) -> ApiToken | None:
        return await self.session.get(ApiToken, token_id)
