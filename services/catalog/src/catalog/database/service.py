"""Database rules: container mode only, known versions per type, upgrades only, master credentials encrypted."""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.database.schemas import (
    Credentials,
    DatabaseConfiguration,
    DatabaseEditRequest,
    DatabaseRequest,
    DatabaseVersionMode,
    Reference,
)
from catalog.database.schemas import Database as DatabaseOut
from catalog.environment.service import stages
from catalog.events.publish import emit_service, emit_service_deleted
from catalog.models import DeploymentStage, Environment, Service
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, NotFound
from slipway.timeutil import rfc3339, utcnow

KIND = "DATABASE"
MODE: Literal["CONTAINER"] = "CONTAINER"
DEFAULT_STAGE = "DATABASE DEFAULT"
# What one database may ask for on a Slipway cluster (no per-node inventory yet).
MAXIMUM_CPU = 16_000
MAXIMUM_MEMORY = 16_384
MINIMUM_CPU = 10
MINIMUM_MEMORY = 32
MAXIMUM_STORAGE = 16_384  # GiB
PASSWORD_LENGTH = 32
_PASSWORD_ALPHABET = string.ascii_letters + string.digits  # safe unescaped in every connection URI


@dataclass(frozen=True)
class Engine:
    """What Slipway knows of one database type: its versions (oldest first) and its master account."""

    versions: tuple[str, ...]
    port: int
    login: str
    database_name: str
    memory: int  # MB, Qovery's container default


ENGINES: dict[str, Engine] = {
    "POSTGRESQL": Engine(("14", "15", "16", "17"), 5432, "superuser", "postgres", 100),
    "MYSQL": Engine(("8.0", "8.4"), 3306, "superuser", "qovery", 512),
    "MONGODB": Engine(("6.0", "7.0", "8.0"), 27017, "superuser", "admin", 256),
    "REDIS": Engine(("6", "7", "8"), 6379, "default", "0", 100),
}


def password_context(service_id: uuid.UUID | str) -> str:
    """The crypto context binding a master password to its database (decrypt with the same one)."""
    return f"database:{service_id}:password"


def master_password(svc: Service, keys: Keyring) -> str:
    """The decrypted master password, for catalog's own use (masterCredentials, variables, desired state)."""
    return keys.decrypt(svc.config["password_encrypted"], password_context(svc.id))


def icon_uri(database_type: str) -> str:
    return f"app://qovery-console/{database_type.lower()}"


def configurations() -> list[DatabaseConfiguration]:
    return [
        DatabaseConfiguration(
            database_type=kind,  # type: ignore[arg-type]
            version=[DatabaseVersionMode(name=v, supported_mode=MODE) for v in engine.versions],
        )
        for kind, engine in ENGINES.items()
    ]


async def get(session: AsyncSession, database_id: uuid.UUID) -> Service:
    found = await session.get(Service, database_id)
    if found is None or found.kind != KIND:
        raise NotFound("database not found")
    return found


async def listing(session: AsyncSession, environment_id: uuid.UUID) -> list[Service]:
    rows = await session.execute(
        select(Service)
        .where(Service.environment_id == environment_id, Service.kind == KIND)
        .order_by(Service.created_at, Service.id)
    )
    return list(rows.scalars())


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _mode(mode: str | None) -> None:
    if mode is not None and mode != MODE:
        raise BadRequest(
            f"mode: {mode} databases are not available; Slipway runs databases as containers (mode {MODE})"
        )


def _version(database_type: str, version: str) -> str:
    known = ENGINES[database_type].versions
    if version not in known:
        raise BadRequest(f"version: {database_type} {version} is not supported; choose one of {', '.join(known)}")
    return version


def _resources(cpu: int, memory: int, storage: int) -> None:
    if not MINIMUM_CPU <= cpu <= MAXIMUM_CPU:
        raise BadRequest(f"cpu: must be between {MINIMUM_CPU} and {MAXIMUM_CPU} millicores")
    if not MINIMUM_MEMORY <= memory <= MAXIMUM_MEMORY:
        raise BadRequest(f"memory: must be between {MINIMUM_MEMORY} and {MAXIMUM_MEMORY} MB")
    if storage > MAXIMUM_STORAGE:
        raise BadRequest(f"storage: at most {MAXIMUM_STORAGE} GiB")


def _instance_type(instance_type: str | None) -> None:
    if instance_type:
        raise BadRequest("instance_type: only for MANAGED databases; Slipway runs databases as containers")


def _password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


async def _default_stage(session: AsyncSession, environment_id: uuid.UUID) -> DeploymentStage | None:
    ordered = await stages(session, environment_id)
    return next((s for s in ordered if s.name == DEFAULT_STAGE), ordered[0] if ordered else None)


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"name '{name}' is already taken by another service of this environment")


async def create(session: AsyncSession, env: Environment, body: DatabaseRequest, keys: Keyring) -> Service:
    _mode(body.mode)
    engine = ENGINES[body.type]
    version = _version(body.type, body.version)
    memory = body.memory if body.memory is not None else engine.memory
    _resources(body.cpu, memory, body.storage)
    _instance_type(body.instance_type)
    service_id = uuid.uuid4()
    config: dict[str, Any] = {
        "type": body.type,
        "version": version,
        "mode": MODE,
        "accessibility": body.accessibility,
        "port": engine.port,
        "login": engine.login,
        "password_encrypted": keys.encrypt(_password(), password_context(service_id)),
        "database_name": engine.database_name,
        "cpu": body.cpu,
        "memory": memory,
        "storage": body.storage,
        "instance_type": None,
        "host_slug": await hosts.assign_host_slug(session, env, body.name, service_id),
    }
    stage = await _default_stage(session, env.id)
    svc = Service(
        id=service_id,
        organization_id=env.organization_id,
        project_id=env.project_id,
        environment_id=env.id,
        kind=KIND,
        name=body.name,
        description=body.description,
        deployment_stage_id=stage.id if stage else None,
        is_skipped=False,
        config=config,
    )
    session.add(svc)
    await _flush(session, body.name)
    await session.refresh(svc, ["created_at"])
    await emit_service(session, Subjects.SERVICE_CREATED, svc)
    return svc


async def edit(session: AsyncSession, svc: Service, body: DatabaseEditRequest) -> None:
    config = dict(svc.config)
    current_type = config["type"]
    if body.type is not None and body.type != current_type:
        raise BadRequest(f"type: a database's type cannot change (it is {current_type})")
    _mode(body.mode)
    if body.version is not None:
        version = _version(current_type, body.version)
        if _version_key(version) < _version_key(config["version"]):
            raise BadRequest(f"version: cannot downgrade {current_type} from {config['version']} to {version}")
        config["version"] = version
    cpu = body.cpu if body.cpu is not None else config["cpu"]
    memory = body.memory if body.memory is not None else config["memory"]
    storage = body.storage if body.storage is not None else config["storage"]
    _resources(cpu, memory, storage)
    if storage < config["storage"]:
        raise BadRequest(f"storage: a volume cannot shrink (from {config['storage']} to {storage} GiB)")
    _instance_type(body.instance_type)
    if body.disk_type is not None:
        raise BadRequest("disk_type: only for MANAGED databases; Slipway runs databases as containers")
    config.update(cpu=cpu, memory=memory, storage=storage)
    if body.accessibility is not None:
        config["accessibility"] = body.accessibility
    svc.config = config
    if body.name is not None:
        svc.name = body.name
    if "description" in body.model_fields_set:
        svc.description = body.description
    svc.updated_at = utcnow()
    await _flush(session, svc.name)
    await emit_service(session, Subjects.SERVICE_UPDATED, svc)


async def delete(session: AsyncSession, svc: Service, keys: Keyring) -> None:
    await emit_service_deleted(session, svc, keys)
    await session.delete(svc)
    await session.flush()


def credentials(svc: Service, keys: Keyring) -> Credentials:
    config = svc.config
    return Credentials(
        host=hosts.internal_host(KIND, svc.id),
        port=config["port"],
        login=config["login"],
        password=master_password(svc, keys),
    )


def render(svc: Service) -> DatabaseOut:
    config = svc.config
    return DatabaseOut(
        id=str(svc.id),
        created_at=rfc3339(svc.created_at),
        updated_at=rfc3339(svc.updated_at or svc.created_at),
        name=svc.name,
        description=svc.description,
        type=config["type"],
        version=config["version"],
        mode=config["mode"],
        accessibility=config["accessibility"],
        cpu=config["cpu"],
        instance_type=config["instance_type"],
        memory=config["memory"],
        storage=config["storage"],
        annotations_groups=[],
        labels_groups=[],
        icon_uri=icon_uri(config["type"]),
        environment=Reference(id=str(svc.environment_id)),
        host=hosts.internal_host(KIND, svc.id),
        port=config["port"],
        maximum_cpu=MAXIMUM_CPU,
        maximum_memory=MAXIMUM_MEMORY,
        disk_encrypted=False,
    )
