"""Internal: which organization a cluster belongs to, for the gateway's authorization of `/cluster/{id}/…`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from catalog.cluster import service as clusters
from slipway.db import SessionDep
from slipway.principal import require_service

cluster_scope_router = APIRouter(
    prefix="/internal/scope", include_in_schema=False, dependencies=[Depends(require_service)]
)


@cluster_scope_router.get("/cluster/{cluster_id}")
async def cluster_scope(cluster_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
    cluster = await clusters.find(session, cluster_id)
    return {"organization_id": str(cluster.organization_id), "cluster_id": str(cluster.id)}
