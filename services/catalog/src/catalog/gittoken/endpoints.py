"""Qovery's Git token routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from catalog.gittoken import service
from catalog.gittoken.schemas import GitTokenRequest, GitTokenResponse, GitTokenResponseList
from catalog.organization.service import ensure_organization
from catalog.settings import CatalogSettings
from slipway.crypto import Keyring, keyring_from
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(prefix="/organization/{organization_id}/gitToken", dependencies=[Depends(require_principal)])


def _settings(request: Request) -> CatalogSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _keys(request: Request) -> Keyring:
    return keyring_from(_settings(request))


@router.get("", response_model=GitTokenResponseList, response_model_exclude_none=True)
async def list_git_tokens(organization_id: uuid.UUID, request: Request, session: SessionDep) -> GitTokenResponseList:
    await ensure_organization(session, _settings(request), organization_id)
    tokens = await service.listing(session, organization_id)
    return GitTokenResponseList(results=[service.render(t, await service.used_by(session, t.id)) for t in tokens])


@router.post("", status_code=201, response_model=GitTokenResponse, response_model_exclude_none=True)
async def create_git_token(
    organization_id: uuid.UUID, body: GitTokenRequest, request: Request, session: SessionDep
) -> GitTokenResponse:
    await ensure_organization(session, _settings(request), organization_id)
    return service.render(await service.create(session, organization_id, body, _keys(request)))


@router.get("/{git_token_id}", response_model=GitTokenResponse, response_model_exclude_none=True)
async def get_git_token(
    organization_id: uuid.UUID, git_token_id: uuid.UUID, request: Request, session: SessionDep
) -> GitTokenResponse:
    await ensure_organization(session, _settings(request), organization_id)
    token = await service.get(session, organization_id, git_token_id)
    return service.render(token, await service.used_by(session, token.id))


@router.put("/{git_token_id}", response_model=GitTokenResponse, response_model_exclude_none=True)
async def edit_git_token(
    organization_id: uuid.UUID,
    git_token_id: uuid.UUID,
    body: GitTokenRequest,
    request: Request,
    session: SessionDep,
) -> GitTokenResponse:
    await ensure_organization(session, _settings(request), organization_id)
    token = await service.get(session, organization_id, git_token_id)
    await service.edit(session, token, body, _keys(request))
    return service.render(token, await service.used_by(session, token.id))


@router.delete("/{git_token_id}", status_code=204)
async def delete_git_token(
    organization_id: uuid.UUID, git_token_id: uuid.UUID, request: Request, session: SessionDep
) -> Response:
    await ensure_organization(session, _settings(request), organization_id)
    await service.delete(session, await service.get(session, organization_id, git_token_id))
    return Response(status_code=204)
