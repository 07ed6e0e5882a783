"""Async SQLAlchemy engine and sessions; the entrypoint (route or consumer) owns the one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """Metadata whose tables live in the service's own Postgres schema (use it on the service's Base)."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (e.g. DATABASE_URL from an operator) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Database:
    """One engine per process, owned by the service's lifespan."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=10,
            connect_args={"timeout": 5, "command_timeout": 30},
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block exits cleanly, rolls back otherwise."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def ping(self, timeout: float = 2.0) -> None:
        async def _ping() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(_ping(), timeout)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.transaction() as session:
        yield session


# scope="function": the transaction commits when the endpoint returns, before the response is sent,
# so a client never sees a success whose write was not committed.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def flush_or_conflict(session: AsyncSession, detail: str) -> None:
    """Flush pending writes; a unique or foreign-key violation becomes a 409 with `detail`.

    The savepoint keeps the rest of the request's transaction usable after the violation.
    """
    from sqlalchemy.exc import IntegrityError

    from slipway.errors import Conflict

    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(detail) from None
