"""Qovery's job routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response

from catalog.environment import service as environments
from catalog.job import service
from catalog.job.schemas import Job, JobRequest, JobResponseList
from catalog.settings import KeysDep
from catalog.workload import restriction_routes
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


@router.get("/environment/{environment_id}/job", response_model=JobResponseList, response_model_exclude_none=True)
async def list_jobs(
    environment_id: uuid.UUID,
    session: SessionDep,
    to_update: bool = Query(default=False, alias="toUpdate"),  # accepted; every job is current
) -> JobResponseList:
    await environments.get(session, environment_id)
    return JobResponseList(
        results=[await service.render(session, j) for j in await service.listing(session, environment_id)]
    )


@router.post("/environment/{environment_id}/job", status_code=201, response_model=Job, response_model_exclude_none=True)
async def create_job(environment_id: uuid.UUID, body: JobRequest, session: SessionDep) -> Job:
    env = await environments.get(session, environment_id)
    return await service.render(session, await service.create(session, env, body))


@router.get("/job/{job_id}", response_model=Job, response_model_exclude_none=True)
async def get_job(job_id: uuid.UUID, session: SessionDep) -> Job:
    return await service.render(session, await service.get(session, job_id))


@router.put("/job/{job_id}", response_model=Job, response_model_exclude_none=True)
async def edit_job(job_id: uuid.UUID, session: SessionDep, body: dict[str, Any] = Body(...)) -> Job:
    """JobRequest: merged onto the stored job, then validated like a create."""
    job = await service.get(session, job_id)
    await service.edit(session, job, body)
    return await service.render(session, job)


@router.delete("/job/{job_id}", status_code=204)
async def delete_job(job_id: uuid.UUID, session: SessionDep, keys: KeysDep) -> Response:
    await service.delete(session, await service.get(session, job_id), keys)
    return Response(status_code=204)


restriction_routes.routes(router, service.KIND, "job")  # /job/{id}/deploymentRestriction[/{id}]
