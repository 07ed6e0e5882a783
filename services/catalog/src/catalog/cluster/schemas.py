"""Cluster bodies with Qovery's field names and enums, plus Slipway's `slipway_engine*` extension fields; the keys
of cluster advanced settings (Qovery's and Slipway's `slipway.*`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from catalog.advanced import Integer, ObjectName, RegistryPath, Setting, Table

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


# -- advanced settings ---------------------------------------------------------------------------------
# Qovery's ClusterAdvancedSettings keys, by type (accepted and read back; Slipway provisions nothing with them)
_INTEGERS = (
    "aws.cloudwatch.eks_logs_retention_days",
    "aws.vpc.flow_logs_retention_days",
    "loki.log_retention_in_week",
    *(
        f"loki.{part}.{resource}"
        for part in ("single_binary", "write", "read", "backend")
        for resource in ("cpu_request_m", "cpu_limit_m", "memory_request_mib", "memory_limit_mib")
    ),
    "registry.image_retention_time",
    "pleco.resources_ttl",
    "nginx.vcpu.request_in_milli_cpu",
    "nginx.vcpu.limit_in_milli_cpu",
    "nginx.memory.request_in_mib",
    "nginx.memory.limit_in_mib",
    "nginx.hpa.cpu_utilization_percentage_threshold",
    "nginx.hpa.min_number_instances",
    "nginx.hpa.max_number_instances",
)
_BOOLEANS = (
    "aws.vpc.enable_s3_flow_logs",
    "aws.vpc.enable_nat_gateway_secondary_eip",
    "aws.eks.enable_alb_controller",
    "aws.eks.enable_efs_addon",
    "qovery.static_ip_mode",
    *(f"database.{engine}.deny_any_access" for engine in ("postgresql", "mysql", "mongodb", "redis")),
)
_STRINGS = ("load_balancer.size", "aws.iam.admin_group", "aws.eks.ec2.ami", "storageclass.fast_ssd")
_STRING_LISTS = (
    "k8s.api.allowed_public_access_cidrs",
    *(f"database.{engine}.allowed_cidrs" for engine in ("postgresql", "mysql", "mongodb", "redis")),
)
_ENUMS: dict[str, Any] = {
    "loki.deployment_mode": Literal["single_binary", "simple_scalable"],
    "aws.eks.efs.throughput_mode": Literal["bursting", "elastic", "provisioned"],
    "aws.eks.efs.performance_mode": Literal["generalPurpose", "maxIO"],
    "aws.eks.efs.transition_to_ia": Literal[
        "AFTER_1_DAY", "AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS", "AFTER_90_DAYS", ""
    ],
    "aws.eks.ec2.metadata_imds": Literal["optional", "required"],
    "registry.mirroring_mode": Literal["Cluster", "Service"],
}
_NULLABLE: dict[str, Any] = {
    "envoy.gateway_api.http_request_timeout_seconds": Annotated[Integer, Field(ge=0)] | None,
    "envoy.gateway_api.http_connection_idle_timeout_seconds": Annotated[Integer, Field(ge=0)] | None,
    "envoy.gateway_api.retry.num_retries": Annotated[Integer, Field(ge=0)] | None,
    "envoy.gateway_api.retry.per_try_timeout_seconds": Annotated[Integer, Field(ge=1)] | None,
    "envoy.gateway_api.retry.retry_on": str | None,
    "envoy.gateway_api.retry.http_status_codes": str | None,
}
# Slipway's own keys (prefixed so that they never clash with Qovery's): how public traffic enters a kubernetes
# cluster and where its volumes come from; '' = none (Slipway's own edge serves the public services; the
# cluster's default StorageClass)
INGRESS_CLASS = "slipway.ingress.class_name"
INGRESS_ISSUER = "slipway.ingress.cert_manager_cluster_issuer"
STORAGE_CLASS = "slipway.storage.class_name"
# where the cluster's engine pulls container databases' images through ('' = from their own registries): a
# registry host with an optional path, e.g. `registry.internal:5000/mirror` (any engine)
DATABASE_MIRROR = "slipway.database.registry_mirror"
KUBERNETES_ONLY = (INGRESS_CLASS, INGRESS_ISSUER, STORAGE_CLASS)

CLUSTER_ADVANCED_SETTINGS = Table(
    "Cluster",
    [
        Setting(INGRESS_CLASS, ObjectName, ""),
        Setting(INGRESS_ISSUER, ObjectName, ""),
        Setting(STORAGE_CLASS, ObjectName, ""),
        Setting(DATABASE_MIRROR, RegistryPath, ""),
        *(Setting(key, Integer) for key in _INTEGERS),
        *(Setting(key, bool) for key in _BOOLEANS),
        *(Setting(key, str) for key in _STRINGS),
        *(Setting(key, list[str]) for key in _STRING_LISTS),
        Setting("cloud_provider.container_registry.tags", dict[str, str]),
        *(Setting(key, kind) for key, kind in {**_ENUMS, **_NULLABLE}.items()),
    ],
)
