"""Slipway's Git webhook routes: each organization's receiver URLs and secrets (members allowed by the gateway),
and the public receivers the providers post to (no credentials: the signature is the proof)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from catalog.organization.service import ensure_organization
from catalog.previews import service as previews
from catalog.settings import CatalogSettings
from catalog.webhooks import providers as P
from catalog.webhooks import pulls, service
from slipway.crypto import keyring_from
from slipway.db import SessionDep
from slipway.errors import BadRequest, NotFound, Unauthorized
from slipway.principal import require_principal

router = APIRouter(
    prefix="/slipway/organization/{organization_id}/gitWebhook", dependencies=[Depends(require_principal)]
)
receivers = APIRouter(prefix="/slipway/webhooks")
MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; a push that large names more files than anyone needs


class RotateRequest(BaseModel):
    provider: str | None = None  # GITHUB | GITLAB | BITBUCKET; none: every provider


def _settings(request: Request) -> CatalogSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _answer(request: Request, organization_id: uuid.UUID, found: dict[str, str]) -> dict[str, Any]:
    base = _settings(request).public_url.rstrip("/")
    results = [
        {"provider": p, "url": f"{base}/slipway/webhooks/{p.lower()}/{organization_id}", "secret": secret}
        for p, secret in found.items()
    ]
    return {"results": results}


@router.get("")
async def get_git_webhooks(organization_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    """Where each provider posts this organization's deliveries, and the secret it signs them with."""
    await ensure_organization(session, _settings(request), organization_id)
    return _answer(
        request, organization_id, await service.secrets_of(session, organization_id, keyring_from(_settings(request)))
    )


@router.post("/rotate")
async def rotate_git_webhooks(
    organization_id: uuid.UUID, body: RotateRequest, request: Request, session: SessionDep
) -> dict[str, Any]:
    provider = None
    if body.provider is not None:
        provider = P.provider_of(body.provider)
        if provider is None:
            raise BadRequest(f"provider: '{body.provider}' is not one of {', '.join(P.PROVIDERS)}")
    await ensure_organization(session, _settings(request), organization_id)
    keys = keyring_from(_settings(request))
    return _answer(request, organization_id, await service.rotate(session, organization_id, keys, provider))


@receivers.post("/{provider_name}/{organization_id}", status_code=202)
async def receive(provider_name: str, organization_id: str, request: Request, session: SessionDep) -> JSONResponse:
    """A provider's delivery: 401 unless signed with the organization's secret; 202 for everything accepted
    (a replay, an event Slipway does not act on, a push and what it deploys)."""
    provider = P.provider_of(provider_name)
    if provider is None:
        raise NotFound(f"no webhook receiver for '{provider_name}' (github, gitlab, bitbucket)")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest(f"the delivery is larger than {MAX_BODY // (1024 * 1024)} MiB")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        org = uuid.UUID(organization_id)
    except ValueError:
        raise Unauthorized("this delivery is not signed for a known organization") from None
    keys = keyring_from(_settings(request))
    secret = await service.secret_for(session, org, provider, keys)
    try:
        if secret is None:
            raise P.Refused("no secret")
        P.verify(provider, headers, body, secret)
    except P.Refused:
        raise Unauthorized(f"the delivery's {provider.title()} signature is missing or wrong") from None
    try:
        delivery_id = P.delivery_of(provider, headers)
        event = P.event_of(provider, headers)
        delivery = await service.record(session, org, provider, delivery_id, event)
        if delivery is None:
            return JSONResponse({"status": "duplicate", "delivery_id": delivery_id}, status_code=202)
        if pulls.is_pull_event(provider, event):
            pull = pulls.parse_pull(provider, event, body)
            if pull is None:
                delivery.outcome = {"ignored": "nothing a preview acts on"}
                return JSONResponse({"status": "ignored", "delivery_id": delivery_id, "event": event}, status_code=202)
            await previews.pull_received(session, org, provider, delivery, pull)  # acted on from the event
            queued = {"pull_request": pull.number, "action": pull.action}
            return JSONResponse({"status": "accepted", "delivery_id": delivery_id, **queued}, status_code=202)
        if not P.is_push(provider, event):
            delivery.outcome = {"ignored": f"'{event}' events are not acted on"}
            return JSONResponse({"status": "ignored", "delivery_id": delivery_id, "event": event}, status_code=202)
        push = P.parse_push(provider, body)
        if push is None:
            delivery.outcome = {"ignored": "the push updated no branch"}
            return JSONResponse({"status": "ignored", "delivery_id": delivery_id, "event": event}, status_code=202)
        if push.path:
            await previews.learn_repository(session, org, provider, push.repositories, push.path)
        outcome = await service.deploy_push(session, org, provider, delivery, push)
    except P.Malformed as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse({"status": "accepted", "delivery_id": delivery_id, **outcome}, status_code=202)
