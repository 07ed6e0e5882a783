"""An environment resolved into the deployer's desired state (slipway.desired), secrets decrypted."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.cluster import service as clusters
from catalog.database.service import master_password
from catalog.gittoken.service import secret as git_token_secret
from catalog.models import Cluster, ContainerRegistry, CustomDomain, DeploymentStage, Environment, GitToken, Service
from catalog.registry.service import stored_config
from catalog.snapshot.sealed import SealedKeyring, sealed_digest
from catalog.variable.resolve import resolve_service
from slipway.crypto import CryptoError, Keyring
from slipway.desired import (
    ClusterTarget,
    DatabaseSpec,
    DesiredState,
    GitSource,
    ImageSource,
    JobCommand,
    JobSchedule,
    Port,
    ProbeSpec,
    RegistryRef,
    SecretFile,
    ServiceSpec,
    StageSpec,
    VolumeSpec,
    database_image,
)
from slipway.errors import Conflict, NotFound


def probe(raw: dict[str, Any] | None) -> ProbeSpec | None:
    if not raw:
        return None
    kind, params = next(((k, v) for k, v in (raw.get("type") or {}).items() if v is not None), (None, None))
    if kind is None or params is None:
        return None
    return ProbeSpec(
        kind=kind,
        port=params.get("port"),
        path=params.get("path"),
        scheme=params.get("scheme"),
        command=params.get("command"),
        initial_delay_seconds=raw.get("initial_delay_seconds", 0),
        period_seconds=raw.get("period_seconds", 10),
        timeout_seconds=raw.get("timeout_seconds", 5),
        success_threshold=raw.get("success_threshold", 1),
        failure_threshold=raw.get("failure_threshold", 3),
    )


async def _git(
    session: AsyncSession, repo: dict[str, Any], commit: str | None, dockerfile: str | None, keys: Keyring
) -> GitSource:
    token = None
    if repo.get("git_token_id"):
        found = await session.get(GitToken, uuid.UUID(str(repo["git_token_id"])))
        token = git_token_secret(found, keys) if found is not None else None
    return GitSource(
        url=repo["url"],
        branch=repo.get("branch"),
        commit=commit,
        root_path=repo.get("root_path") or "/",
        dockerfile_path=dockerfile or "Dockerfile",
        token=token,
    )


def registry_ref(registry: ContainerRegistry, keys: Keyring) -> RegistryRef:
    creds = stored_config(registry, keys)
    return RegistryRef(
        id=str(registry.id),
        url=registry.url,
        kind=registry.kind,
        username=creds.get("username") or creds.get("access_key_id"),
        password=creds.get("password") or creds.get("secret_access_key"),
    )


async def _image(session: AsyncSession, image: dict[str, Any], keys: Keyring) -> ImageSource:
    registry = await session.get(ContainerRegistry, uuid.UUID(str(image["registry_id"])))
    if registry is None:
        ref = RegistryRef(id=str(image["registry_id"]), url="", kind="GENERIC_CR")
    else:
        ref = registry_ref(registry, keys)
    return ImageSource(registry=ref, image_name=image["image_name"], tag=image["tag"])


async def cluster_registry(session: AsyncSession, cluster: Cluster, keys: Keyring) -> RegistryRef | None:
    """Where a Kubernetes cluster's built images go: its organization's default container registry."""
    if cluster.engine != "kubernetes":
        return None
    registry = await session.scalar(
        select(ContainerRegistry)
        .where(ContainerRegistry.organization_id == cluster.organization_id)
        .order_by(ContainerRegistry.is_default.desc(), ContainerRegistry.created_at, ContainerRegistry.id)
        .limit(1)
    )
    return registry_ref(registry, keys) if registry is not None else None


def _schedule(config: dict[str, Any]) -> JobSchedule:
    schedule = config.get("schedule") or {}
    cron = schedule.get("cronjob") or {}
    if config.get("job_type") == "CRON" or cron:
        return JobSchedule(
            kind="CRON",
            cron=cron.get("scheduled_at"),
            timezone=cron.get("timezone") or "Etc/UTC",
            arguments=cron.get("arguments") or [],
            entrypoint=cron.get("entrypoint"),
            max_duration_seconds=config.get("max_duration_seconds"),
        )
    events = {k: schedule.get(k) for k in ("on_start", "on_stop", "on_delete")}
    chosen = [v for v in events.values() if v is not None]
    first: dict[str, Any] = chosen[0] if chosen else {}
    return JobSchedule(
        kind="LIFECYCLE",
        on_start=events["on_start"] is not None,
        on_stop=events["on_stop"] is not None,
        on_delete=events["on_delete"] is not None,
        arguments=first.get("arguments") or [],
        entrypoint=first.get("entrypoint"),
        events={
            key.removeprefix("on_"): JobCommand(
                arguments=value.get("arguments") or [], entrypoint=value.get("entrypoint")
            )
            for key, value in events.items()
            if value is not None
        },
        max_duration_seconds=config.get("max_duration_seconds"),
    )


# what each engine's official image needs: where its data lives and how it learns its credentials
DATA_DIRS = {
    "POSTGRESQL": "/var/lib/postgresql/data",
    "MYSQL": "/var/lib/mysql",
    "MONGODB": "/data/db",
    "REDIS": "/data",
}


def database_container(spec: ServiceSpec, service_id: uuid.UUID) -> None:
    """Runtime settings of a container-mode database: credentials as the image expects them, a TCP
    readiness probe on its port, and one persistent volume for its data."""
    db = spec.database
    assert db is not None
    credentials = {
        "POSTGRESQL": {"POSTGRES_USER": db.login, "POSTGRES_PASSWORD": db.password, "POSTGRES_DB": db.database_name},
        "MYSQL": {
            "MYSQL_ROOT_PASSWORD": db.password,
            "MYSQL_USER": db.login,
            "MYSQL_PASSWORD": db.password,
            "MYSQL_DATABASE": db.database_name,
        },
        "MONGODB": {
            "MONGO_INITDB_ROOT_USERNAME": db.login,
            "MONGO_INITDB_ROOT_PASSWORD": db.password,
            "MONGO_INITDB_DATABASE": db.database_name,
        },
        "REDIS": {"REDIS_PASSWORD": db.password},
    }[db.type]
    # only its credentials: project and environment variables are the applications' (as on Qovery), so a variable
    # never restarts a database nor hands it other services' secrets
    spec.env = dict(sorted(credentials.items()))
    spec.secret_keys = sorted(k for k in credentials if "PASSWORD" in k)
    spec.files = []
    if db.type == "REDIS":
        spec.arguments = ["redis-server", "--requirepass", db.password, "--appendonly", "yes"]
    spec.readiness_probe = spec.readiness_probe or ProbeSpec(
        kind="tcp", port=db.port, initial_delay_seconds=0, period_seconds=2, timeout_seconds=2, failure_threshold=90
    )
    spec.volumes = [
        VolumeSpec(id=str(uuid.uuid5(service_id, "data")), mount_point=DATA_DIRS[db.type], size_gib=db.storage_gib)
    ]


def build_args(spec: ServiceSpec) -> dict[str, str]:
    """Variables given to the image build: every non-secret one (build arguments end up in the image's
    history, so secrets stay runtime-only)."""
    secret = set(spec.secret_keys)
    return {k: v for k, v in spec.env.items() if k not in secret}


async def service_spec(session: AsyncSession, svc: Service, keys: Keyring) -> ServiceSpec:
    config = svc.config
    resolved = await resolve_service(session, svc, keys)
    domains = list(
        await session.scalars(
            select(CustomDomain.domain).where(CustomDomain.service_id == svc.id).order_by(CustomDomain.created_at)
        )
    )
    health = config.get("healthchecks") or {}
    storage = config.get("storage")
    volumes: list[dict[str, Any]] = storage if isinstance(storage, list) else []
    spec = ServiceSpec(
        id=str(svc.id),
        kind=svc.kind,  # type: ignore[arg-type]
        name=svc.name,
        stage_id=str(svc.deployment_stage_id) if svc.deployment_stage_id else None,
        is_skipped=svc.is_skipped,
        internal_host=hosts.internal_host(svc.kind, svc.id),
        host_slug=config.get("host_slug") or hosts.slug(svc.name),
        custom_domains=domains,
        arguments=config.get("arguments") or [],
        entrypoint=config.get("entrypoint"),
        cpu=config.get("cpu", 500),
        memory=config.get("memory", 512),
        min_running_instances=max(1, config.get("min_running_instances", 1) or 1),
        max_running_instances=config.get("max_running_instances", 1),
        ports=[Port(**p) for p in config.get("ports") or []],
        readiness_probe=probe(health.get("readiness_probe")),
        liveness_probe=probe(health.get("liveness_probe")),
        env=dict(sorted(resolved.env.items())),
        secret_keys=sorted(resolved.secret_keys),
        files=[SecretFile(key=k, path=p, content=c, is_secret=s) for k, p, c, s in resolved.files],
        volumes=[
            VolumeSpec(id=v["id"], mount_point=v["mount_point"], size_gib=v.get("size") or 10) for v in volumes
        ],  # a database's `storage` is its size in GiB: its volume is set below
    )
    if svc.kind == "APPLICATION":
        spec.git = await _git(
            session, config["git_repository"], config.get("git_commit_id"), config.get("dockerfile_path"), keys
        )
        spec.build_args = build_args(spec)
    elif svc.kind == "CONTAINER":
        spec.image = await _image(
            session,
            {"registry_id": config["registry_id"], "image_name": config["image_name"], "tag": config["tag"]},
            keys,
        )
    elif svc.kind == "DATABASE":
        spec.database = DatabaseSpec(
            type=config["type"],
            version=str(config["version"]),
            mode=config.get("mode", "CONTAINER"),
            port=config["port"],
            login=config["login"],
            password=master_password(svc, keys),
            database_name=config["database_name"],
            storage_gib=config.get("storage") or 10,
        )
        database_container(spec, svc.id)
        spec.ports = spec.ports or [
            Port(
                id=str(uuid.uuid5(svc.id, "db")),
                name="db",
                internal_port=config["port"],
                publicly_accessible=False,
                is_default=True,
                protocol="TCP",
            )
        ]
    elif svc.kind == "JOB":
        source = config.get("source") or {}
        if "image" in source and source["image"]:
            spec.image = await _image(session, source["image"], keys)
        elif source.get("docker"):
            docker = source["docker"]
            spec.git = await _git(
                session, docker["git_repository"], config.get("git_commit_id"), docker.get("dockerfile_path"), keys
            )
            spec.build_args = build_args(spec)
        spec.job = _schedule(config)
        if config.get("port"):
            spec.ports = [
                Port(
                    id=str(uuid.uuid5(svc.id, "job")),
                    name="job",
                    internal_port=config["port"],
                    publicly_accessible=False,
                    is_default=True,
                    protocol="HTTP",
                )
            ]
    return spec


async def desired_state(
    session: AsyncSession,
    environment_id: uuid.UUID,
    keys: Keyring,
    only_service: uuid.UUID | None = None,
    images: dict[str, str] | None = None,
) -> DesiredState:
    """The whole environment resolved; a secret the key ring cannot decrypt is a 409 naming nothing secret.
    With a `SealedKeyring` nothing is decrypted (the sealed state, for statuses and actions) and each service
    carries its `spec_digest`; `only_service` keeps that one service (its stages whole). `images`: the
    installation's database images (CATALOG_DATABASE_IMAGES)."""
    try:
        state = await _desired_state(session, environment_id, keys, only_service, images)
    except CryptoError:
        raise Conflict(
            "a secret of this environment cannot be decrypted with the configured encryption keys "
            "(SLIPWAY_ENCRYPTION_KEYS): restore the key it was encrypted with"
        ) from None
    if isinstance(keys, SealedKeyring):
        for spec in state.services:
            spec.spec_digest = sealed_digest(spec)
        return state.seal()
    return state


async def _desired_state(
    session: AsyncSession,
    environment_id: uuid.UUID,
    keys: Keyring,
    only_service: uuid.UUID | None,
    images: dict[str, str] | None,
) -> DesiredState:
    env = await session.get(Environment, environment_id)
    if env is None:
        raise NotFound("environment not found")
    cluster = await session.get(Cluster, env.cluster_id)
    if cluster is None:
        raise NotFound("the environment's cluster no longer exists")
    stage_rows = list(
        await session.scalars(
            select(DeploymentStage)
            .where(DeploymentStage.environment_id == env.id)
            .order_by(DeploymentStage.deployment_order)
        )
    )
    services = list(
        await session.scalars(
            select(Service).where(Service.environment_id == env.id).order_by(Service.created_at, Service.id)
        )
    )
    picked = [s for s in services if only_service is None or s.id == only_service]
    specs = [await service_spec(session, s, keys) for s in picked]
    mirror = clusters.database_mirror(cluster)
    for spec in specs:
        if spec.database is not None:
            spec.database.image = database_image(spec.database.type, spec.database.version, images, mirror)
    stages = [
        StageSpec(
            id=str(st.id),
            name=st.name,
            deployment_order=st.deployment_order,
            service_ids=[str(s.id) for s in services if s.deployment_stage_id == st.id],
        )
        for st in stage_rows
    ]
    sealed = isinstance(keys, SealedKeyring)
    kubeconfig = clusters.kubeconfig(cluster, keys) if cluster.kubeconfig_encrypted and not sealed else None
    return DesiredState(
        organization_id=str(env.organization_id),
        project_id=str(env.project_id),
        environment_id=str(env.id),
        environment_name=env.name,
        environment_mode=env.mode,
        cluster=ClusterTarget(
            id=str(cluster.id),
            engine=cluster.engine,
            engine_host=cluster.engine_host,
            base_domain=cluster.base_domain,
            kubeconfig=kubeconfig,
            registry=await cluster_registry(session, cluster, keys),
            **clusters.kubernetes_settings(cluster),
        ),
        stages=stages,
        services=specs,
    ).seal()
