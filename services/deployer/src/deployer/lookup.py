"""What a route names, from catalog's sealed state (nothing decrypted): 404 when it is not there, 503 when
catalog cannot answer; and the version to deploy, recorded at catalog."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request

from deployer.clients import Catalog, UpstreamError
from slipway.desired import DesiredState
from slipway.errors import BadRequest, NotFound, ServiceUnavailable
from slipway.principal import Principal


def catalog(request: Request) -> Catalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


def poke(request: Request) -> None:
    request.app.state.worker.poke()


def prefetch(request: Request, deployment_id: uuid.UUID, environment_id: uuid.UUID) -> None:
    """Have the runner read the deployment's desired state while the request is answered."""
    runner = getattr(request.app.state, "runner", None)
    if runner is not None:
        runner.prefetch(deployment_id, environment_id)


def who(principal: Principal) -> str | None:
    return str(principal.user_id) if principal.user_id else principal.subject


def scope_of(state: DesiredState) -> dict[str, Any]:
    return {
        "organization_id": state.organization_id,
        "project_id": state.project_id,
        "environment_id": state.environment_id,
    }


def _unavailable(exc: UpstreamError) -> ServiceUnavailable:
    return ServiceUnavailable(f"catalog: {exc.detail}")


async def environment(request: Request, environment_id: str) -> DesiredState:
    """The environment's sealed state: services, stages and versions, with no secret decrypted."""
    try:
        return await catalog(request).sealed_state(environment_id)
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound("environment not found") from None
        raise _unavailable(exc) from None


def of_kind(state: DesiredState, kind: str, service_id: uuid.UUID) -> DesiredState:
    spec = state.service(str(service_id))
    if spec is None or spec.kind != kind:
        raise NotFound(f"{kind.lower()} not found")
    return state


async def service(request: Request, kind: str, service_id: uuid.UUID) -> DesiredState:
    """The sealed state of the service's environment (with that service); 404 unless it is of `kind`."""
    try:
        state = await catalog(request).service_sealed_state(str(service_id))
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound(f"{kind.lower()} not found") from None
        raise _unavailable(exc) from None
    return of_kind(state, kind, service_id)


async def set_version(
    request: Request,
    service_id: str,
    kind: str,
    *,
    git_commit_id: str | None = None,
    image_tag: str | None = None,
) -> DesiredState:
    """Record the version to deploy; catalog answers the service's sealed state after the change."""
    try:
        state = await catalog(request).set_version(service_id, kind, git_commit_id=git_commit_id, image_tag=image_tag)
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound(f"{kind.lower()} not found") from None
        if exc.status in (400, 409):
            raise BadRequest(exc.detail) from None
        raise _unavailable(exc) from None
    return of_kind(state, kind, uuid.UUID(service_id))
