"""Internal: where a project or an environment lives, for the gateway's authorization."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from catalog.environment import service as environments
from catalog.models.organization import Cluster
from catalog.project import service as projects
from slipway.db import SessionDep
from slipway.principal import require_service

scope_router = APIRouter(prefix="/internal/scope", include_in_schema=False, dependencies=[Depends(require_service)])


@scope_router.get("/project/{project_id}")
async def project_scope(project_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
    project = await projects.get(session, project_id)
    return {"organization_id": str(project.organization_id), "project_id": str(project.id)}


@scope_router.get("/environment/{environment_id}")
async def environment_scope(environment_id: uuid.UUID, session: SessionDep) -> dict[str, str | None]:
    """Also the engine of its cluster (no credential): the deployer picks the runtime driver from it."""
    env = await environments.get(session, environment_id)
    cluster = await session.get(Cluster, env.cluster_id)
    return {
        "organization_id": str(env.organization_id),
        "project_id": str(env.project_id),
        "environment_id": str(env.id),
        "environment_mode": env.mode,
        "cluster_id": str(env.cluster_id),
        "cluster_engine": cluster.engine if cluster is not None else None,
        "cluster_engine_host": cluster.engine_host if cluster is not None else None,
    }
