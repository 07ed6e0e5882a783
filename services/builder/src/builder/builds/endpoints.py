"""Internal builds API for the deployer: submit (idempotent, build-skip), read, cancel."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from builder import registry
from builder.builds import repository, service
from builder.builds.logs import BuildLog
from builder.builds.runner import BuildRunner
from builder.builds.schemas import BuildRequest, BuildView
from builder.engine import Engine
from builder.models import CANCELED, SUCCEEDED, UNFINISHED
from builder.settings import BuilderSettings
from slipway.db import Database
from slipway.deploylog import Masker
from slipway.errors import NotFound
from slipway.principal import require_service
from slipway.timeutil import utcnow

router = APIRouter(prefix="/internal/builds", dependencies=[Depends(require_service)])


def _db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def _runner(request: Request) -> BuildRunner:
    return request.app.state.builds  # type: ignore[no-any-return]


def _json(view: BuildView, status: int) -> JSONResponse:
    return JSONResponse(view.model_dump(mode="json"), status_code=status)


async def _reusable(request: Request, body: BuildRequest, key: str | None) -> tuple[str, str, str, str] | None:
    """(image, local image, commit, content hash) of an identical earlier build whose image still exists."""
    if key is None:
        return None
    async with _db(request).transaction() as session:
        earlier = await repository.last_success(session, key, body.image_repository)
    if earlier is None or not (earlier.local_image and earlier.commit and earlier.content_hash and earlier.image):
        return None
    engine: Engine = request.app.state.engine
    try:
        if not await engine.image_exists(earlier.local_image):
            return None
    except Exception:  # noqa: BLE001 - engine unreachable: the queued build reports it
        return None
    image = earlier.local_image
    if body.registry is not None:
        settings: BuilderSettings = request.app.state.settings
        pushed = registry.pushed_repository(body.registry, body.image_repository)
        image = f"{pushed}:{earlier.local_image.rpartition(':')[2]}"
        insecure = {registry.host_of(settings.registry_url)} if settings.registry_url else set()
        try:
            if not await registry.tag_exists(request.app.state.http, body.registry, image, insecure):
                return None
        except Exception:  # noqa: BLE001 - unsure: let a real build (which pushes) decide
            return None
    return image, earlier.local_image, earlier.commit, earlier.content_hash


@router.post("", response_model=BuildView)
async def submit(body: BuildRequest, request: Request) -> JSONResponse:
    settings: BuilderSettings = request.app.state.settings
    db = _db(request)
    async with db.transaction() as session:
        existing = await repository.for_deployment(session, body.deployment_id, body.service_id)
    if existing is not None:
        return _json(service.view(existing), 200)
    key = service.source_key(settings.internal_auth_key.get_secret_value(), body)
    reuse = await _reusable(request, body, key)
    build = service.new_build(body, key)
    async with db.transaction() as session:
        submitted = await service.insert(session, build)
        if submitted.created and reuse is not None:
            image, local, commit, digest = reuse
            build.started_at = utcnow()
            await service.finish(
                session,
                request.app.state.outbox,
                build,
                SUCCEEDED,
                image=image,
                local_image=local,
                commit=commit,
                content_hash=digest,
                skipped=True,
                started_at=build.started_at,
            )
    if not submitted.created:
        return _json(service.view(submitted.build), 200)
    if reuse is not None:
        build_log = BuildLog(request.app.state.nats, str(build.id), body, Masker(body.secrets()))
        await build_log(f"Build skipped: {reuse[1]} already exists (same commit, sources and build args)", "Build")
        await build_log(f"Build skipped, image reused: {reuse[0]}", "Built")
        return _json(service.view(build), 200)
    _runner(request).submit(build.id, body)
    return _json(service.view(build), 202)


@router.get("/{build_id}", response_model=BuildView)
async def read(build_id: uuid.UUID, request: Request) -> BuildView:
    async with _db(request).transaction() as session:
        build = await repository.get(session, build_id)
    if build is None:
        raise NotFound(f"build {build_id} not found")
    return service.view(build)


@router.post("/{build_id}/cancel", status_code=202, response_model=BuildView)
async def cancel(build_id: uuid.UUID, request: Request) -> BuildView:
    """Cancel a QUEUED or RUNNING build (a finished one is left as it is); answers with its state."""
    runner = _runner(request)
    if runner.running(build_id):
        await runner.cancel(build_id)
    async with _db(request).transaction() as session:
        build = await repository.get(session, build_id, lock=True)
        if build is None:
            raise NotFound(f"build {build_id} not found")
        if build.status in UNFINISHED:
            # recorded now: the task may still be cleaning up (Podman finishes a running step before it stops),
            # or no task here runs it (its process died, another replica); its own record becomes a no-op
            await service.finish(session, request.app.state.outbox, build, CANCELED, error="build canceled")
    return service.view(build)
