"""Cluster bodies with Qovery's field names and enums, plus Slipway's `slipway_engine*` extension fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

CloudVendor = Literal["AWS", "SCW", "GCP", "DO", "AZURE", "OVH", "CIVO", "HETZNER", "ORACLE", "IBM", "ON_PREMISE"]
KubernetesKind = Literal["MANAGED", "SELF_MANAGED", "PARTIALLY_MANAGED"]
DeleteMode = Literal["DEFAULT", "DELETE_CLUSTER_AND_QOVERY_CONFIG", "DELETE_QOVERY_CONFIG"]
# Slipway extension: what runs the cluster's workloads (a Docker Engine API host, or Kubernetes).
Engine = Literal["docker", "podman", "kubernetes"]


class ClusterRequest(BaseModel):
    """Qovery's ClusterRequest; cloud-provisioning fields (nodes, disks, features…) are accepted and ignored."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    region: str = Field(min_length=1, max_length=64)
    cloud_provider: CloudVendor
    kubernetes: KubernetesKind | None = None
    production: bool | None = None
    slipway_engine: Engine | None = None  # default kubernetes (bring your own cluster + kubeconfig)
    slipway_engine_host: str | None = Field(default=None, max_length=1024)  # docker/podman: the Engine API address
    # generated public hosts are <service>-<environment>.<slipway_base_domain> (default: CATALOG_BASE_DOMAIN)
    slipway_base_domain: str | None = Field(default=None, max_length=253)


class Reference(BaseModel):
    id: str


class Cluster(BaseModel):
    id: str
    created_at: str
    updated_at: str
    organization: Reference
    name: str
    description: str | None = None
    region: str
    cloud_provider: str
    kubernetes: str
    is_default: bool
    is_demo: bool = False
    production: bool
    has_access: bool  # false for a kubernetes cluster until its kubeconfig is uploaded
    slipway_engine: str
    slipway_engine_host: str | None = None
    slipway_base_domain: str


class ClusterResponseList(BaseModel):
    results: list[Cluster]
