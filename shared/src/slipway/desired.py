"""The desired state of an environment: the contract between catalog (producer) and deployer (consumer).

Catalog resolves an environment into one `DesiredState` (services with their images or Git refs,
every variable resolved — aliases, overrides, built-ins, secrets decrypted — ports, probes,
resources, stages) at `GET /internal/environment/{id}/desired-state` for service principals only.
`version` is a content hash of everything below it: two snapshots with the same version deploy
the same thing, so the deployer compares versions to skip unchanged work.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

ServiceKind = Literal["APPLICATION", "CONTAINER", "DATABASE", "JOB", "HELM"]


class RegistryRef(BaseModel):
    id: str
    url: str
    kind: str
    username: str | None = None
    password: str | None = None  # decrypted; never log


class ClusterTarget(BaseModel):
    id: str
    engine: str  # docker | podman | kubernetes
    engine_host: str | None = None  # Docker Engine API address (docker/podman clusters)
    base_domain: str  # public hosts are <host_slug>.<base_domain>
    kubeconfig: str | None = None  # decrypted, kubernetes clusters only
    # kubernetes clusters: where built images are pushed and what the nodes pull them from (the organization's
    # default container registry)
    registry: RegistryRef | None = None
    # kubernetes clusters, from the cluster's advanced settings: the ingress class and cert-manager cluster issuer
    # public services get Ingresses with (None: no ingress controller, Slipway's own edge serves them), and the
    # StorageClass of volume claims (None: the cluster's default)
    ingress_class: str | None = None
    ingress_issuer: str | None = None
    storage_class: str | None = None


class GitSource(BaseModel):
    url: str  # https://…, ssh://… / git@…, or file://…
    branch: str | None = None
    commit: str | None = None  # full SHA to build; None = head of `branch`
    root_path: str = "/"
    dockerfile_path: str | None = "Dockerfile"
    token: str | None = None  # decrypted Git token for https URLs; never log
    ssh_key: str | None = None


class ImageSource(BaseModel):
    registry: RegistryRef
    image_name: str
    tag: str


class Port(BaseModel):
    id: str
    name: str
    internal_port: int
    external_port: int | None = None
    publicly_accessible: bool
    is_default: bool
    protocol: str  # HTTP | GRPC | TCP | UDP
    public_path: str | None = None
    public_path_rewrite: str | None = None


class ProbeSpec(BaseModel):
    kind: Literal["http", "tcp", "exec", "grpc"]
    port: int | None = None
    path: str | None = None
    scheme: str | None = None
    command: list[str] | None = None
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 5
    success_threshold: int = 1
    failure_threshold: int = 3


class SecretFile(BaseModel):
    """A file variable: `content` mounted read-only at `path` (interpolation already applied)."""

    key: str
    path: str
    content: str
    is_secret: bool = False


class VolumeSpec(BaseModel):
    """Persistent storage mounted at `mount_point`; a service with volumes is replaced by recreate (stop
    the old instance, then start the new one), never two instances on one volume."""

    id: str
    mount_point: str
    size_gib: int = 10


class DatabaseSpec(BaseModel):
    type: Literal["POSTGRESQL", "MYSQL", "MONGODB", "REDIS"]
    version: str
    mode: Literal["CONTAINER", "MANAGED"] = "CONTAINER"
    port: int
    login: str
    password: str  # decrypted; never log
    database_name: str
    storage_gib: int = 10
    # where the engine pulls it from: catalog's image for the type and version (its CATALOG_DATABASE_IMAGES), through
    # the cluster's registry mirror when it has one; None from a catalog that predates it (the official image)
    image: str | None = None


# the official images (Docker Hub's library), `{version}` replaced by the database's version
OFFICIAL_DATABASE_IMAGES = {
    "POSTGRESQL": "postgres:{version}",
    "MYSQL": "mysql:{version}",
    "MONGODB": "mongo:{version}",
    "REDIS": "redis:{version}",
}


def database_image(kind: str, version: str, images: dict[str, str] | None = None, mirror: str | None = None) -> str:
    """The image of a `kind` database at `version`: the installation's template for it (else the official image),
    its registry replaced by `mirror` when there is one (`mirror/library/postgres:16` for an official image)."""
    template = (images or {}).get(kind) or OFFICIAL_DATABASE_IMAGES[kind]
    image = template.replace("{version}", version)
    if mirror:
        first, _, rest = image.partition("/")
        has_registry = bool(rest) and ("." in first or ":" in first or first == "localhost")
        path = rest if has_registry else (image if rest else f"library/{image}")
        image = f"{mirror.rstrip('/')}/{path}"
    return image


class JobCommand(BaseModel):
    arguments: list[str] = Field(default_factory=list)
    entrypoint: str | None = None


class JobSchedule(BaseModel):
    kind: Literal["CRON", "LIFECYCLE"]
    cron: str | None = None  # five-field cron expression (CRON)
    timezone: str = "Etc/UTC"
    on_start: bool = False  # LIFECYCLE events
    on_stop: bool = False
    on_delete: bool = False
    arguments: list[str] = Field(default_factory=list)
    entrypoint: str | None = None
    # LIFECYCLE: the command of each event that has one ("start", "stop", "delete")
    events: dict[str, JobCommand] = Field(default_factory=dict)
    # a run's maximum duration: stopped and failed past it (None: the deployer's own limit)
    max_duration_seconds: int | None = None


class ServiceSpec(BaseModel):
    id: str
    kind: ServiceKind
    name: str
    # catalog's digest of the service's whole configuration with every secret sealed (a digest of its ciphertext,
    # never its value): what statuses compare with what was deployed, without decrypting anything
    spec_digest: str | None = None
    stage_id: str | None = None
    is_skipped: bool = False
    internal_host: str  # DNS name other services of the environment use
    host_slug: str  # <host_slug>.<cluster base domain> is the public host
    custom_domains: list[str] = Field(default_factory=list)
    git: GitSource | None = None  # applications, and jobs built from Git
    image: ImageSource | None = None  # containers, and jobs from an image
    database: DatabaseSpec | None = None
    job: JobSchedule | None = None
    arguments: list[str] = Field(default_factory=list)
    entrypoint: str | None = None
    cpu: int = 500  # millicores
    memory: int = 512  # MB
    min_running_instances: int = 1
    max_running_instances: int = 1
    ports: list[Port] = Field(default_factory=list)
    readiness_probe: ProbeSpec | None = None
    liveness_probe: ProbeSpec | None = None
    env: dict[str, str] = Field(default_factory=dict)  # resolved variables (secrets decrypted)
    secret_keys: list[str] = Field(default_factory=list)  # which env/file keys are secrets (mask them)
    files: list[SecretFile] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    build_args: dict[str, str] = Field(default_factory=dict)  # variables given to the build


class StageSpec(BaseModel):
    id: str
    name: str
    deployment_order: int
    service_ids: list[str]


class DesiredState(BaseModel):
    organization_id: str
    project_id: str
    environment_id: str
    environment_name: str
    environment_mode: str
    cluster: ClusterTarget
    stages: list[StageSpec]
    services: list[ServiceSpec]
    version: str = ""  # content hash, filled by `seal`

    def seal(self) -> DesiredState:
        self.version = content_version(self.model_dump(mode="json", exclude={"version"}))
        return self

    def service(self, service_id: str) -> ServiceSpec | None:
        return next((s for s in self.services if s.id == service_id), None)


def content_version(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


PUBLIC_PROTOCOLS = {"HTTP", "GRPC"}


# on every container and network the deployer creates on a container engine: which Slipway installation owns it
# (several may share one engine; each touches, and `make clean` removes, only its own)
INSTALLATION_LABEL = "slipway.installation"


def kubernetes_namespace(environment_id: str) -> str:
    """The namespace an environment's services run in on a Kubernetes cluster."""
    return f"slipway-{environment_id}"


def kubernetes_service_host(internal_host: str, environment_id: str) -> str:
    """The cluster DNS name of a service's Kubernetes Service (named after its internal host)."""
    return f"{internal_host}.{kubernetes_namespace(environment_id)}.svc.cluster.local"


def public_hosts(host_slug: str, ports: list[Port], base_domain: str) -> dict[int, str]:
    """internal port → public host for each publicly accessible HTTP/GRPC port.

    The default port answers on `<host_slug>.<base_domain>`, any other on
    `p<port>-<host_slug>.<base_domain>` (catalog's links and the edge routes both use this rule).
    """
    hosts: dict[int, str] = {}
    for port in ports:
        if port.publicly_accessible and port.protocol in PUBLIC_PROTOCOLS:
            prefix = "" if port.is_default else f"p{port.internal_port}-"
            hosts[port.internal_port] = f"{prefix}{host_slug}.{base_domain}"
    return hosts
