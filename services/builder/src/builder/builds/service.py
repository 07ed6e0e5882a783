"""Build rules: content-hash tags, idempotent submission, the build-skip shortcut, terminal states and events."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from builder.builds import repository
from builder.builds.schemas import BuildRequest, BuildView
from builder.git import display_url
from builder.models import CANCELED, FAILED, QUEUED, SUCCEEDED, Build
from slipway.contracts import BuildFinished, Subjects
from slipway.events import Envelope, add_event
from slipway.timeutil import utcnow

TAG_LENGTH = 16
_EVENTS = {SUCCEEDED: Subjects.BUILD_SUCCEEDED, FAILED: Subjects.BUILD_FAILED, CANCELED: Subjects.BUILD_CANCELED}


def content_hash(tree: str, dockerfile_path: str, build_args: Mapping[str, str]) -> str:
    """Hash of the Git tree of the build root, the Dockerfile path and the sorted build args."""
    material = json.dumps([tree, dockerfile_path, sorted(build_args.items())], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def image_tag(digest: str) -> str:
    return digest[:TAG_LENGTH]


def source_key(key: str, request: BuildRequest) -> str | None:
    """Identifies the build's inputs without cloning (only for a full commit SHA); keyed so that the stored
    value reveals nothing about build-arg values."""
    git = request.git
    if git.commit is None or len(git.commit) not in (40, 64):
        return None
    material = json.dumps(
        [display_url(git.url), git.commit, git.root_path, git.dockerfile_path, sorted(request.build_args.items())],
        separators=(",", ":"),
    )
    return hmac.new(key.encode(), material.encode(), hashlib.sha256).hexdigest()


def view(build: Build) -> BuildView:
    return BuildView(
        id=build.id,
        deployment_id=build.deployment_id,
        service_id=build.service_id,
        status=build.status,
        image=build.image,
        local_image=build.local_image,
        commit=build.commit,
        skipped=build.skipped,
        error=build.error,
        failing_step=build.failing_step,
        created_at=build.created_at,
        started_at=build.started_at,
        finished_at=build.finished_at,
    )


@dataclass
class Submitted:
    build: Build
    created: bool  # False: the (deployment, service) already had this build


def new_build(request: BuildRequest, key: str | None) -> Build:
    git = request.git
    return Build(
        id=uuid.uuid4(),
        deployment_id=request.deployment_id,
        organization_id=request.organization_id,
        project_id=request.project_id,
        environment_id=request.environment_id,
        service_id=request.service_id,
        service_name=request.service_name,
        stage_id=request.stage_id,
        status=QUEUED,
        repository=display_url(git.url),
        requested_ref=git.commit or git.branch,
        root_path=git.root_path,
        dockerfile_path=git.dockerfile_path or "Dockerfile",
        image_repository=request.image_repository,
        registry_id=request.registry.id if request.registry else None,
        source_key=key,
        skipped=False,
        created_at=utcnow(),
    )


async def insert(session: AsyncSession, build: Build) -> Submitted:
    """Insert `build`, or return the one a concurrent request inserted for the same (deployment, service)."""
    try:
        async with session.begin_nested():
            session.add(build)
            await session.flush()
    except IntegrityError:
        existing = await repository.for_deployment(session, build.deployment_id, build.service_id)
        if existing is None:
            raise
        return Submitted(existing, created=False)
    return Submitted(build, created=True)


async def finish(
    session: AsyncSession,
    outbox: Table,
    build: Build,
    status: str,
    *,
    error: str | None = None,
    failing_step: str | None = None,
    **fields: object,
) -> None:
    """Move `build` to a terminal status and record its event, in the caller's transaction."""
    now = utcnow()
    values = {"status": status, "error": error, "failing_step": failing_step, "finished_at": now, **fields}
    await repository.set_fields(session, build.id, **values)
    for name, value in values.items():
        setattr(build, name, value)
    try:
        organization: uuid.UUID | None = uuid.UUID(build.organization_id)
    except ValueError:
        organization = None
    payload = BuildFinished(
        build_id=build.id,
        deployment_id=build.deployment_id,
        service_id=build.service_id,
        image=build.image if status == SUCCEEDED else None,
        status=status,
        error=error,
    )
    await add_event(
        session,
        outbox,
        Envelope(
            type=_EVENTS[status],
            source="builder",
            organization_id=organization,
            resource_id=str(build.id),
            payload=payload.model_dump(mode="json"),
        ),
    )
