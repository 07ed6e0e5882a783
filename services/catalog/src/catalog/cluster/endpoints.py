"""Qovery's cluster routes, the cluster kubeconfig (YAML in, YAML out) and the cluster advanced settings (the
gateway has authorized)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from catalog.cluster import service
from catalog.cluster.schemas import (
    CLUSTER_ADVANCED_SETTINGS,
    Cluster,
    ClusterRequest,
    ClusterResponseList,
    DeleteMode,
)
from catalog.organization.service import ensure_organization
from catalog.settings import CatalogSettings
from slipway.crypto import Keyring, keyring_from
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(prefix="/organization/{organization_id}/cluster", dependencies=[Depends(require_principal)])
defaults_router = APIRouter(dependencies=[Depends(require_principal)])
YAML = "application/x-yaml"


def _settings(request: Request) -> CatalogSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _keys(request: Request) -> Keyring:
    return keyring_from(_settings(request))


@router.get("", response_model=ClusterResponseList, response_model_exclude_none=True)
async def list_clusters(organization_id: uuid.UUID, request: Request, session: SessionDep) -> ClusterResponseList:
    await ensure_organization(session, _settings(request), organization_id)
    return ClusterResponseList(results=[service.render(c) for c in await service.listing(session, organization_id)])


@router.post("", status_code=201, response_model=Cluster, response_model_exclude_none=True)
async def create_cluster(
    organization_id: uuid.UUID, body: ClusterRequest, request: Request, session: SessionDep
) -> Cluster:
    await ensure_organization(session, _settings(request), organization_id)
    settings = _settings(request)
    return service.render(await service.create(session, organization_id, body, settings.base_domain))


@router.put("/{cluster_id}", response_model=Cluster, response_model_exclude_none=True)
async def edit_cluster(
    organization_id: uuid.UUID, cluster_id: uuid.UUID, body: ClusterRequest, request: Request, session: SessionDep
) -> Cluster:
    await ensure_organization(session, _settings(request), organization_id)
    cluster = await service.get(session, organization_id, cluster_id)
    await service.edit(session, cluster, body)
    return service.render(cluster)


@router.delete("/{cluster_id}", status_code=204)
async def delete_cluster(
    organization_id: uuid.UUID,
    cluster_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    delete_mode: DeleteMode = Query(default="DEFAULT", alias="deleteMode"),
    skip_reconcile: bool = Query(default=False, alias="skipReconcile"),
) -> Response:
    """Every mode behaves as DEFAULT: nothing is torn down here, and a cluster still in use is refused."""
    await ensure_organization(session, _settings(request), organization_id)
    await service.delete(session, await service.get(session, organization_id, cluster_id))
    return Response(status_code=204)


@router.get("/{cluster_id}/kubeconfig", response_class=Response, responses={200: {"content": {YAML: {}}}})
async def get_kubeconfig(
    organization_id: uuid.UUID, cluster_id: uuid.UUID, request: Request, session: SessionDep
) -> Response:
    await ensure_organization(session, _settings(request), organization_id)
    cluster = await service.get(session, organization_id, cluster_id)
    return Response(content=service.kubeconfig(cluster, _keys(request)), media_type=YAML)


@router.put("/{cluster_id}/kubeconfig", status_code=204)
async def edit_kubeconfig(
    organization_id: uuid.UUID, cluster_id: uuid.UUID, request: Request, session: SessionDep
) -> Response:
    """The body is the kubeconfig itself (application/x-yaml), checked and stored encrypted."""
    await ensure_organization(session, _settings(request), organization_id)
    cluster = await service.get(session, organization_id, cluster_id)
    service.set_kubeconfig(cluster, await request.body(), _keys(request))
    return Response(status_code=204)


@router.get("/{cluster_id}/advancedSettings")
async def get_advanced_settings(
    organization_id: uuid.UUID, cluster_id: uuid.UUID, request: Request, session: SessionDep
) -> dict[str, Any]:
    await ensure_organization(session, _settings(request), organization_id)
    return service.advanced_settings(await service.get(session, organization_id, cluster_id))


@router.put("/{cluster_id}/advancedSettings", status_code=201)
async def edit_advanced_settings(
    organization_id: uuid.UUID,
    cluster_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    body: dict[str, Any] = Body(),
) -> dict[str, Any]:
    """The whole object, as GET answers it (Qovery's spec answers 201)."""
    await ensure_organization(session, _settings(request), organization_id)
    cluster = await service.get(session, organization_id, cluster_id)
    service.set_advanced_settings(cluster, body)
    return service.advanced_settings(cluster)


@defaults_router.get("/defaultClusterAdvancedSettings")
async def get_default_advanced_settings() -> dict[str, Any]:
    return dict(CLUSTER_ADVANCED_SETTINGS.defaults)
