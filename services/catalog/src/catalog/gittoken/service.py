"""Git token rules: unique names, Bitbucket needs its workspace, the token encrypted at rest and write-only."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.gittoken.schemas import GitTokenRequest, GitTokenResponse
from catalog.models import GitToken, Service
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, Conflict, NotFound
from slipway.timeutil import rfc3339, utcnow

# The provider's public API when no self-hosted `git_api_url` is given (the response requires one).
PUBLIC_API = {
    "GITHUB": "https://api.github.com",
    "GITLAB": "https://gitlab.com",
    "BITBUCKET": "https://api.bitbucket.org",
}


def _context(token: GitToken) -> str:
    return f"git_token:{token.id}:token"


def render(token: GitToken, used: int = 0) -> GitTokenResponse:
    return GitTokenResponse(
        id=str(token.id),
        created_at=rfc3339(token.created_at),
        updated_at=rfc3339(token.updated_at or token.created_at),
        name=token.name,
        description=token.description,
        type=token.type,
        workspace=token.workspace,
        associated_services_count=used,
        git_api_url=token.git_api_url or PUBLIC_API[token.type],
    )


def secret(token: GitToken, keys: Keyring) -> str:
    """The token itself, for this service's own use (cloning); never part of a response."""
    return keys.decrypt(token.token_encrypted, _context(token))


async def listing(session: AsyncSession, organization_id: uuid.UUID) -> list[GitToken]:
    rows = await session.execute(
        select(GitToken).where(GitToken.organization_id == organization_id).order_by(GitToken.created_at, GitToken.id)
    )
    return list(rows.scalars())


async def get(session: AsyncSession, organization_id: uuid.UUID, token_id: uuid.UUID) -> GitToken:
    token = await session.get(GitToken, token_id)
    if token is None or token.organization_id != organization_id:
        raise NotFound("git token not found")
    return token


def _check(body: GitTokenRequest) -> None:
    if not body.token.strip():
        raise BadRequest("token: must not be blank")
    if body.type == "BITBUCKET" and not body.workspace:
        raise BadRequest("workspace: required for a BITBUCKET token")
    if body.git_api_url is not None:
        parts = urlsplit(body.git_api_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise BadRequest(f"git_api_url: '{body.git_api_url}' is not an http(s) URL")


def _apply(token: GitToken, body: GitTokenRequest, keys: Keyring) -> None:
    token.name = body.name
    token.type = body.type
    token.workspace = body.workspace
    token.git_api_url = body.git_api_url
    token.token_encrypted = keys.encrypt(body.token, _context(token))


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"name '{name}' is already taken by another git token of this organization")


async def create(session: AsyncSession, organization_id: uuid.UUID, body: GitTokenRequest, keys: Keyring) -> GitToken:
    _check(body)
    token = GitToken(id=uuid.uuid4(), organization_id=organization_id, description=body.description)
    _apply(token, body, keys)
    session.add(token)
    await _flush(session, body.name)
    return token


async def edit(session: AsyncSession, token: GitToken, body: GitTokenRequest, keys: Keyring) -> None:
    """The request schema requires the token: an edit always stores the one sent."""
    _check(body)
    _apply(token, body, keys)
    if "description" in body.model_fields_set:
        token.description = body.description
    token.updated_at = utcnow()
    await _flush(session, body.name)


async def used_by(session: AsyncSession, token_id: uuid.UUID) -> int:
    """How many services (applications, and jobs built from Git) clone with this token."""
    ident = str(token_id)
    found = await session.execute(
        select(func.count())
        .select_from(Service)
        .where(
            or_(
                Service.config["git_repository"]["git_token_id"].astext == ident,
                Service.config["source"]["docker"]["git_repository"]["git_token_id"].astext == ident,
            )
        )
    )
    return int(found.scalar_one())


async def delete(session: AsyncSession, token: GitToken) -> None:
    services = await used_by(session, token.id)
    if services:
        raise Conflict(f"the Git token is used by {services} service(s); change their repository access first")
    await session.delete(token)
    await session.flush()
