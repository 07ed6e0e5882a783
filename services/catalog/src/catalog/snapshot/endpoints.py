"""Internal routes for the deployer (service principals only): desired state, version changes, job outputs."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from catalog import tombstones
from catalog.cluster import service as clusters
from catalog.events.publish import emit_service
from catalog.job import outputs as job_outputs
from catalog.models import Cluster, Environment, Project, Service
from catalog.settings import CatalogSettings
from catalog.snapshot.build import desired_state
from catalog.snapshot.sealed import SealedKeyring
from slipway import joboutput
from slipway.contracts import Subjects
from slipway.crypto import keyring_from
from slipway.db import SessionDep
from slipway.errors import BadRequest, NotFound
from slipway.principal import require_service
from slipway.timeutil import utcnow

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_service)])
COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # a full SHA-1 or SHA-256 object name
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # Docker's tag grammar


class VersionRequest(BaseModel):
    git_commit_id: str | None = Field(default=None, max_length=64)
    image_tag: str | None = Field(default=None, max_length=128)


@router.get("/internal/environment/{environment_id}/desired-state")
async def get_desired_state(environment_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    settings: CatalogSettings = request.app.state.settings
    state = await desired_state(session, environment_id, keyring_from(settings), images=settings.database_images)
    return state.model_dump(mode="json")


@router.get("/internal/environment/{environment_id}/sealed-state")
async def get_sealed_state(environment_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    """The environment as the desired state shows it, with every secret sealed (nothing decrypted): what the
    deployer's statuses and actions read."""
    state = await desired_state(session, environment_id, SealedKeyring(), images=_images(request))
    return state.model_dump(mode="json")


def _images(request: Request) -> dict[str, str]:
    return request.app.state.settings.database_images  # type: ignore[no-any-return]


async def _service_sealed_state(session: SessionDep, svc: Service, request: Request) -> dict[str, Any]:
    state = await desired_state(
        session, svc.environment_id, SealedKeyring(), only_service=svc.id, images=_images(request)
    )
    return state.model_dump(mode="json")


@router.get("/internal/service/{service_id}/sealed-state")
async def get_service_sealed_state(service_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    """The sealed state of the service's environment with that service only (its stages whole)."""
    svc = await session.get(Service, service_id)
    if svc is None:
        raise NotFound("service not found")
    return await _service_sealed_state(session, svc, request)


@router.get("/internal/cluster/{cluster_id}/connection")
async def get_cluster_connection(cluster_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    """How the deployer reaches a cluster's engine: its engine address, or its kubeconfig (decrypted)."""
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound("cluster not found")
    kubeconfig = None
    if cluster.kubeconfig_encrypted is not None:
        kubeconfig = clusters.kubeconfig(cluster, keyring_from(request.app.state.settings))
    return {
        "id": str(cluster.id),
        "engine": cluster.engine,
        "engine_host": cluster.engine_host,
        "kubeconfig": kubeconfig,
    }


@router.get("/internal/tombstone/{tombstone_id}")
async def get_tombstone(tombstone_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    """What a deleted environment (or service) ran, for its uninstall; 404 once the deployer dropped it."""
    state = await tombstones.read(session, tombstone_id, keyring_from(request.app.state.settings))
    if state is None:
        raise NotFound("no deletion pending under this id")
    return state.model_dump(mode="json")


@router.delete("/internal/tombstone/{tombstone_id}", status_code=204)
async def drop_tombstone(tombstone_id: uuid.UUID, session: SessionDep) -> Response:
    """The deployer finished the uninstall: forget what ran there (idempotent)."""
    await tombstones.drop(session, tombstone_id)
    return Response(status_code=204)


@router.get("/internal/project/{project_id}/environments")
async def project_environments(project_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    """The ids of a project's environments, oldest first (the deployer renders their statuses)."""
    if await session.get(Project, project_id) is None:
        raise NotFound("project not found")
    rows = await session.scalars(
        select(Environment.id).where(Environment.project_id == project_id).order_by(Environment.created_at)
    )
    return {"environment_ids": [str(i) for i in rows]}


class OutputsRequest(BaseModel):
    execution_id: str = Field(min_length=1, max_length=160)
    outputs: dict[str, Any]


@router.put("/internal/job/{job_id}/outputs", status_code=204)
async def put_job_outputs(job_id: uuid.UUID, body: OutputsRequest, request: Request, session: SessionDep) -> Response:
    """What a job's run wrote to its output file: the job's outputs from now on (variables of its environment)."""
    job = await session.get(Service, job_id)
    if job is None or job.kind != "JOB":
        raise NotFound("job not found")
    try:
        outputs = joboutput.check(body.outputs)
    except joboutput.OutputError as exc:
        raise BadRequest(str(exc)) from None
    await job_outputs.replace(session, job, body.execution_id, outputs, keyring_from(request.app.state.settings))
    return Response(status_code=204)


@router.put("/internal/service/{service_id}/version")
async def set_version(
    service_id: uuid.UUID, body: VersionRequest, request: Request, session: SessionDep, kind: str | None = None
) -> dict[str, Any]:
    """Deploying another version (a commit or an image tag) is recorded on the service itself; the answer is the
    service's sealed state after the change (the deployer queues from it). With `kind`, a service of another
    kind is not found (and nothing is written)."""
    svc = await session.get(Service, service_id)
    if svc is None or (kind is not None and svc.kind != kind):
        raise NotFound(f"{(kind or 'service').lower()} not found")
    if body.git_commit_id is None and body.image_tag is None:
        raise BadRequest("git_commit_id: give the commit to build, or image_tag: the tag to run")
    config = dict(svc.config)
    git_built = svc.kind == "APPLICATION" or (svc.kind == "JOB" and bool((config.get("source") or {}).get("docker")))
    if body.git_commit_id is not None:
        if not git_built:
            raise BadRequest(f"git_commit_id: a {svc.kind.lower()} is not built from Git, it has no commit")
        commit = body.git_commit_id.strip().lower()
        if not COMMIT.match(commit):
            raise BadRequest("git_commit_id: must be a full commit SHA (40 or 64 hexadecimal characters)")
        if not commit.strip("0"):
            raise BadRequest("git_commit_id: the all-zero SHA names no commit (Git uses it for 'nothing')")
        config["git_commit_id"] = commit
    if body.image_tag is not None:
        if not TAG.match(body.image_tag):
            raise BadRequest(f"image_tag: '{body.image_tag}' is not a valid image tag")
        if svc.kind == "CONTAINER":
            config["tag"] = body.image_tag
        elif svc.kind == "JOB" and not git_built:
            source = dict(config["source"])
            source["image"] = {**source["image"], "tag": body.image_tag}
            config["source"] = source
        else:
            raise BadRequest(f"image_tag: a {svc.kind.lower()} is not deployed from an image tag")
    if config != svc.config:
        svc.config = config
        svc.updated_at = utcnow()
        await session.flush()
        await emit_service(session, Subjects.SERVICE_UPDATED, svc)
    return await _service_sealed_state(session, svc, request)
