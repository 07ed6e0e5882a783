"""BUILT_IN variables, computed from an environment and its services on every read (never stored).

Names follow Qovery: environment-wide `QOVERY_PROJECT_ID`, `QOVERY_ENVIRONMENT_ID`, `QOVERY_CLUSTER_ID`;
per service `QOVERY_<TYPE>_Z<first 8 hex of its id, upper case>_<SUFFIX>`; and for the service
itself `QOVERY_<TYPE>_ID`. Ids are stable: uuid5(environment or service id, key).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from catalog import hosts
from catalog.job import outputs as job_outputs
from catalog.models import Cluster, Environment, JobOutput, Service
from catalog.variable.items import Item, ServiceRef
from slipway.desired import Port, kubernetes_service_host, public_hosts

ENVIRONMENT_KEYS = ("QOVERY_PROJECT_ID", "QOVERY_ENVIRONMENT_ID", "QOVERY_CLUSTER_ID")
# Every suffix a service kind may get (which ones exist depends on its configuration).
SUFFIXES = {
    "APPLICATION": ("HOST_INTERNAL", "HOST_EXTERNAL", "GIT_COMMIT_ID", "GIT_BRANCH"),
    "CONTAINER": ("HOST_INTERNAL", "HOST_EXTERNAL"),
    "JOB": ("GIT_COMMIT_ID", "GIT_BRANCH"),
    "DATABASE": (
        "HOST",
        "HOST_INTERNAL",
        "PORT",
        "LOGIN",
        "PASSWORD",
        "DATABASE_NAME",
        "DATABASE_URL",
        "DATABASE_URL_INTERNAL",
    ),
}
# Kinds that are variable parents and get `QOVERY_<TYPE>_ID` (their own id, seen by themselves only).
OWN_ID_KINDS = ("APPLICATION", "CONTAINER", "JOB")
SCHEMES = {"POSTGRESQL": "postgresql", "MYSQL": "mysql", "MONGODB": "mongodb", "REDIS": "redis"}

PasswordOf = Callable[[Service], str | None]


def builtin_id(owner_id: uuid.UUID, key: str) -> uuid.UUID:
    return uuid.uuid5(owner_id, key)


def label(service: Service) -> str:
    """What a service's built-ins are named after: its kind, a database's type (as Qovery names them)."""
    return label_of(service.kind, (service.config or {}).get("type"))


def prefix(service: Service) -> str:
    """`QOVERY_APPLICATION_Z037C9E87` for an application whose id starts with 037c9e87, `QOVERY_POSTGRESQL_Z…` for a
    PostgreSQL database."""
    return f"QOVERY_{label(service)}_{hosts.short_id(service.id).upper()}"


def own_key(kind: str) -> str:
    return f"QOVERY_{kind}_ID"


def label_of(kind: str, database_type: str | None) -> str:
    return (database_type or "DATABASE").upper() if kind == "DATABASE" else kind


def candidate_ids(
    environment_id: uuid.UUID, services: list[tuple[uuid.UUID, str, str | None]]
) -> dict[uuid.UUID, uuid.UUID]:
    """Every id a built-in of this environment could have → its owner (the environment or the service); each
    service as (id, kind, database type or None)."""
    found = {builtin_id(environment_id, key): environment_id for key in ENVIRONMENT_KEYS}
    for service_id, kind, database_type in services:
        head = f"QOVERY_{label_of(kind, database_type)}_{hosts.short_id(service_id).upper()}"
        for suffix in SUFFIXES.get(kind, ()):
            found[builtin_id(service_id, f"{head}_{suffix}")] = service_id
        if kind in OWN_ID_KINDS:
            found[builtin_id(service_id, own_key(kind))] = service_id
    return found


def _item(
    env: Environment,
    key: str,
    value: str,
    created_at: datetime,
    *,
    owner: uuid.UUID,
    service: Service | None = None,
    own: bool = False,
    secret: bool = False,
) -> Item:
    return Item(
        id=builtin_id(owner, key),
        key=key,
        scope="BUILT_IN",
        variable_type="BUILT_IN",
        project_id=env.project_id,
        environment_id=env.id,
        service_id=service.id if own and service is not None else None,
        parent_id=owner,
        created_at=created_at,
        value=None if secret else value,
        is_secret=secret,
        secret=value if secret else None,
        service=ServiceRef(service.id, service.name, service.kind) if service is not None else None,
    )


def _external_host(service: Service, cluster: Cluster | None) -> str | None:
    config = service.config or {}
    slug = config.get("host_slug")
    if not slug or cluster is None:
        return None
    ports = []
    for raw in config.get("ports") or []:
        try:
            ports.append(Port.model_validate({"id": "", "name": "", "is_default": False, "protocol": "HTTP", **raw}))
        except ValueError:
            continue
    if ports and not any(p.is_default for p in ports):  # Qovery: the first public port is the default one
        first = next((p for p in ports if p.publicly_accessible), None)
        if first is not None:
            first.is_default = True
    by_port = public_hosts(slug, ports, cluster.base_domain)
    default = next((p for p in ports if p.is_default and p.internal_port in by_port), None)
    return by_port[default.internal_port] if default is not None else None


def _repository(config: dict[str, Any]) -> dict[str, Any] | None:
    """An application's `git_repository`, or a job's (at the top or under `source.docker`)."""
    found = config.get("git_repository") or ((config.get("source") or {}).get("docker") or {}).get("git_repository")
    return found if isinstance(found, dict) else None


def _git(config: dict[str, Any]) -> tuple[str, str]:
    repository = _repository(config) or {}
    return str(config.get("git_commit_id") or ""), str(repository.get("branch") or "")


def _database_url(scheme: str, login: str, password: str | None, host: str, port: str, name: str) -> str | None:
    if password is None:
        return None
    auth = f"{quote(login, safe='')}:{quote(password, safe='')}@"
    if scheme == "redis":
        return f"redis://{auth}{host}:{port}" + (f"/{name}" if name.isdigit() else "")
    url = f"{scheme}://{auth}{host}:{port}/{quote(name, safe='')}"
    return url + "?authSource=admin" if scheme == "mongodb" else url


def for_service(env: Environment, service: Service, cluster: Cluster | None, password_of: PasswordOf) -> list[Item]:
    """What every service of the environment learns about `service` (hosts, Git refs, credentials)."""
    config = service.config or {}
    head = prefix(service)
    out: list[Item] = []

    def add(suffix: str, value: str | None, *, secret: bool = False) -> None:
        if secret or value is not None:
            out.append(_item(env, f"{head}_{suffix}", value or "", service.created_at, owner=service.id,
                             service=service, secret=secret))  # fmt: skip

    internal = hosts.internal_host(service.kind, service.id)
    if cluster is not None and cluster.engine == "kubernetes":  # the Service's cluster DNS name
        internal = kubernetes_service_host(internal, str(env.id))
    if service.kind in ("APPLICATION", "CONTAINER"):
        add("HOST_INTERNAL", internal)
        add("HOST_EXTERNAL", _external_host(service, cluster))
    if service.kind == "APPLICATION" or (service.kind == "JOB" and _repository(config)):
        commit, branch = _git(config)
        add("GIT_COMMIT_ID", commit)
        add("GIT_BRANCH", branch)
    if service.kind == "DATABASE":
        scheme = SCHEMES.get(str(config.get("type", "")).upper(), str(config.get("type", "")).lower())
        port, login, name = (
            str(config.get("port", "")),
            str(config.get("login", "")),
            str(config.get("database_name", "")),
        )
        password = password_of(service)
        url = _database_url(scheme, login, password, internal, port, name)
        add("HOST", internal)  # no public database endpoint on Slipway: the external host is the internal one
        add("HOST_INTERNAL", internal)
        add("PORT", port)
        add("LOGIN", login)
        add("PASSWORD", password, secret=True)
        add("DATABASE_NAME", name)
        add("DATABASE_URL", url, secret=True)
        add("DATABASE_URL_INTERNAL", url, secret=True)
    return out


def for_environment(
    env: Environment,
    cluster: Cluster | None,
    services: list[Service],
    password_of: PasswordOf,
    outputs: Sequence[JobOutput] = (),
    reveal: Callable[[JobOutput], str | None] = lambda _: None,
) -> list[Item]:
    """The built-ins every parent of the environment (itself and each of its services) sees; jobs' outputs last
    (a sensitive one's value only through `reveal`)."""
    values = {
        "QOVERY_PROJECT_ID": str(env.project_id),
        "QOVERY_ENVIRONMENT_ID": str(env.id),
        "QOVERY_CLUSTER_ID": str(env.cluster_id),
    }
    out = [_item(env, key, values[key], env.created_at, owner=env.id) for key in ENVIRONMENT_KEYS]
    for service in services:
        out.extend(for_service(env, service, cluster, password_of))
    jobs = {s.id: s for s in services if s.kind == "JOB"}
    for row in outputs:
        job = jobs.get(row.job_id)
        if job is None:
            continue
        value = reveal(row) if row.sensitive else row.value
        key = job_outputs.variable_key(job.id, row.key)
        out.append(_item(env, key, value or "", row.created_at, owner=job.id, service=job, secret=row.sensitive))
    return out


def own(env: Environment, service: Service) -> list[Item]:
    """`QOVERY_<TYPE>_ID`: the service's own id, seen by that service only."""
    if service.kind not in OWN_ID_KINDS:
        return []
    key = own_key(service.kind)
    return [_item(env, key, str(service.id), service.created_at, owner=service.id, service=service, own=True)]


def no_password(service: Service) -> str | None:
    """For listings: secrets are never shown, so never decrypted."""
    return None
