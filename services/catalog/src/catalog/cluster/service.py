"""Cluster rules: only self-managed (bring-your-own) clusters; unique names; the kubeconfig encrypted at rest."""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cluster.schemas import (
    CLUSTER_ADVANCED_SETTINGS,
    DATABASE_MIRROR,
    INGRESS_CLASS,
    INGRESS_ISSUER,
    KUBERNETES_ONLY,
    STORAGE_CLASS,
    ClusterRequest,
    Reference,
)
from catalog.cluster.schemas import Cluster as ClusterOut
from catalog.models import Cluster, Environment
from catalog.settings import base_domain_problem
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, Conflict, NotFound
from slipway.timeutil import rfc3339, utcnow

ENGINE_HOSTS = {"docker", "podman"}  # engines reached through a Docker Engine API address
ENGINE_HOST_SCHEMES = {"unix", "tcp", "http", "https", "ssh"}


def render(cluster: Cluster) -> ClusterOut:
    return ClusterOut(
        id=str(cluster.id),
        created_at=rfc3339(cluster.created_at),
        updated_at=rfc3339(cluster.updated_at or cluster.created_at),
        organization=Reference(id=str(cluster.organization_id)),
        name=cluster.name,
        description=cluster.description,
        region=cluster.region,
        cloud_provider=cluster.cloud_provider,
        kubernetes=cluster.kubernetes,
        is_default=cluster.is_default,
        production=cluster.production,
        has_access=cluster.engine in ENGINE_HOSTS or cluster.kubeconfig_encrypted is not None,
        slipway_engine=cluster.engine,
        slipway_engine_host=cluster.engine_host,
        slipway_base_domain=cluster.base_domain,
    )


async def listing(session: AsyncSession, organization_id: uuid.UUID) -> list[Cluster]:
    rows = await session.execute(
        select(Cluster)
        .where(Cluster.organization_id == organization_id)
        .order_by(Cluster.is_default.desc(), Cluster.created_at, Cluster.id)
    )
    return list(rows.scalars())


async def get(session: AsyncSession, organization_id: uuid.UUID, cluster_id: uuid.UUID) -> Cluster:
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None or cluster.organization_id != organization_id:
        raise NotFound("cluster not found")
    return cluster


async def find(session: AsyncSession, cluster_id: uuid.UUID) -> Cluster:
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound("cluster not found")
    return cluster


def _check_kind(body: ClusterRequest) -> None:
    if body.cloud_provider != "ON_PREMISE":
        raise BadRequest(
            f"cloud_provider: Slipway does not provision {body.cloud_provider} clusters; create an ON_PREMISE "
            "cluster with kubernetes SELF_MANAGED (your own cluster), then upload its kubeconfig"
        )
    if body.kubernetes is not None and body.kubernetes != "SELF_MANAGED":
        raise BadRequest(f"kubernetes: only SELF_MANAGED clusters are supported, not {body.kubernetes}")


def _check_engine_host(engine: str, host: str | None) -> None:
    if engine not in ENGINE_HOSTS:
        if host is not None:
            raise BadRequest(
                "slipway_engine_host: only for docker or podman clusters; a kubernetes cluster is reached "
                "through its kubeconfig"
            )
        return
    if not host:
        raise BadRequest(
            f"slipway_engine_host: required for a {engine} cluster "
            "(e.g. unix:///run/podman/podman.sock or tcp://10.0.0.5:2375)"
        )
    problem = engine_address_problem(host)
    if problem is not None:
        raise BadRequest(
            f"slipway_engine_host: '{host}' is not a Docker Engine API address: {problem} "
            f"({', '.join(sorted(s + '://' for s in ENGINE_HOST_SCHEMES))})"
        )


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def engine_address_problem(host: str) -> str | None:
    """Why `host` is not a usable engine URL (unix socket path, or a host name / IP with a valid port), or None."""
    if any(ch.isspace() or ord(ch) < 32 for ch in host):
        return "spaces and control characters are not allowed"
    try:
        parts = urlsplit(host)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ENGINE_HOST_SCHEMES:
        return "unknown scheme"
    if parts.scheme == "unix":
        return None if parts.path.startswith("/") and not parts.netloc else "a unix socket needs an absolute path"
    name = parts.hostname
    if not name:
        return "no host"
    if port == 0:
        return "port 0"
    if name.replace(".", "").isdigit() or ":" in name:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return f"{name} is not an IP address"
        return None
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return f"{name} is not a host name"
    return None


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"name '{name}' is already taken by another cluster of this organization")


def _base_domain(name: str) -> str:
    problem = base_domain_problem(name)
    if problem:
        raise BadRequest(f"slipway_base_domain: {problem}")
    return name.lower().rstrip(".")


async def create(
    session: AsyncSession, organization_id: uuid.UUID, body: ClusterRequest, default_domain: str
) -> Cluster:
    _check_kind(body)
    engine = body.slipway_engine or "kubernetes"
    _check_engine_host(engine, body.slipway_engine_host)
    cluster = Cluster(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name=body.name,
        description=body.description,
        region=body.region,
        cloud_provider="ON_PREMISE",
        kubernetes="SELF_MANAGED",
        engine=engine,
        engine_host=body.slipway_engine_host,
        base_domain=_base_domain(body.slipway_base_domain) if body.slipway_base_domain else default_domain,
        is_default=False,
        production=bool(body.production),
    )
    session.add(cluster)
    await _flush(session, body.name)
    return cluster


async def edit(session: AsyncSession, cluster: Cluster, body: ClusterRequest) -> None:
    """Clients send the whole object back: omitted optional fields stay as they are."""
    _check_kind(body)
    if body.slipway_engine is not None and body.slipway_engine != cluster.engine:
        raise BadRequest(
            f"slipway_engine: a cluster's engine cannot change ({cluster.engine}); create another cluster instead"
        )
    if "slipway_engine_host" in body.model_fields_set and body.slipway_engine_host != cluster.engine_host:
        if cluster.is_default:
            raise BadRequest(
                "slipway_engine_host: the default cluster's engine address comes from the catalog's settings "
                "(CATALOG_DEFAULT_ENGINE_HOST)"
            )
        _check_engine_host(cluster.engine, body.slipway_engine_host)
        cluster.engine_host = body.slipway_engine_host
    if body.slipway_base_domain is not None:
        cluster.base_domain = _base_domain(body.slipway_base_domain)  # hosts move at each service's next deploy
    cluster.name = body.name
    cluster.region = body.region
    if "description" in body.model_fields_set:
        cluster.description = body.description
    if body.production is not None:
        cluster.production = body.production
    cluster.updated_at = utcnow()
    await _flush(session, body.name)


async def delete(session: AsyncSession, cluster: Cluster) -> None:
    if cluster.is_default:
        raise BadRequest("the default cluster of an organization cannot be deleted")
    used = (
        await session.execute(select(func.count()).select_from(Environment).where(Environment.cluster_id == cluster.id))
    ).scalar_one()
    if used:
        raise Conflict(f"the cluster still runs {used} environment(s); delete them or move them elsewhere first")
    await session.delete(cluster)
    await flush_or_conflict(session, "an environment was just created on this cluster; delete it first")


# -- advanced settings -----------------------------------------------------------------------------


def advanced_settings(cluster: Cluster) -> dict[str, Any]:
    """Every default, overlaid with what was set."""
    return CLUSTER_ADVANCED_SETTINGS.render(cluster.advanced_settings)


def set_advanced_settings(cluster: Cluster, body: dict[str, Any]) -> None:
    """The body is the whole object (Qovery's PUT): a key left out goes back to its default. Nothing else of the
    cluster changes; services pick the settings up at their next deploy."""
    values = CLUSTER_ADVANCED_SETTINGS.parse(body)
    if cluster.engine != "kubernetes":
        chosen = [key for key in KUBERNETES_ONLY if values.get(key)]
        if chosen:
            raise BadRequest(
                f"{chosen[0]}: only for kubernetes clusters; cluster '{cluster.name}' runs on {cluster.engine} "
                "(its public services go through Slipway's edge, its volumes are the engine's)"
            )
    cluster.advanced_settings = CLUSTER_ADVANCED_SETTINGS.overrides(values)


def database_mirror(cluster: Cluster) -> str | None:
    """The registry the cluster pulls container databases' images through (None: their own registries)."""
    return advanced_settings(cluster)[DATABASE_MIRROR] or None


def kubernetes_settings(cluster: Cluster) -> dict[str, str | None]:
    """What a kubernetes cluster's desired state carries of its advanced settings (None: not chosen)."""
    if cluster.engine != "kubernetes":
        return {}
    settings = advanced_settings(cluster)
    return {
        "ingress_class": settings[INGRESS_CLASS] or None,
        "ingress_issuer": settings[INGRESS_ISSUER] or None,
        "storage_class": settings[STORAGE_CLASS] or None,
    }


# -- kubeconfig ------------------------------------------------------------------------------------


def _kubeconfig_context(cluster: Cluster) -> str:
    return f"cluster:{cluster.id}:kubeconfig"


def parse_kubeconfig(raw: bytes) -> str:
    """The kubeconfig text, once it parses as YAML with clusters, contexts and users; else BadRequest."""
    if not raw.strip():
        raise BadRequest("kubeconfig: the body is empty; send the kubeconfig as YAML (application/x-yaml)")
    try:
        text = raw.decode("utf-8")
        document = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise BadRequest("kubeconfig: the body is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        # only the position and the problem: the offending line may hold a credential
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise BadRequest(
            f"kubeconfig: not valid YAML{where} ({getattr(exc, 'problem', None) or 'parse error'})"
        ) from None
    if not isinstance(document, dict):
        raise BadRequest("kubeconfig: expected a YAML mapping with clusters, contexts and users")
    names: dict[str, set[str]] = {}
    for section, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        entries = document.get(section)
        if not isinstance(entries, list) or not entries:
            raise BadRequest(f"kubeconfig.{section}: required, a non-empty list")
        names[section] = set()
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise BadRequest(f"kubeconfig.{section}[{position}]: needs a name")
            if not isinstance(entry.get(inner), dict):
                raise BadRequest(f"kubeconfig.{section}[{position}].{inner}: required, a mapping")
            names[section].add(entry["name"])
    for position, entry in enumerate(document["contexts"]):
        context: dict[str, Any] = entry["context"]
        for key, section in (("cluster", "clusters"), ("user", "users")):
            if context.get(key) not in names[section]:
                raise BadRequest(
                    f"kubeconfig.contexts[{position}].context.{key}: '{context.get(key)}' is not in {section}"
                )
    current = document.get("current-context")
    if current not in (None, "") and current not in names["contexts"]:
        raise BadRequest(f"kubeconfig.current-context: '{current}' is not in contexts")
    return text


def set_kubeconfig(cluster: Cluster, raw: bytes, keys: Keyring) -> None:
    if cluster.engine != "kubernetes":
        raise BadRequest(
            f"cluster '{cluster.name}' runs on {cluster.engine} (a Docker Engine API host); "
            "a kubeconfig applies to kubernetes clusters only"
        )
    cluster.kubeconfig_encrypted = keys.encrypt(parse_kubeconfig(raw), _kubeconfig_context(cluster))
    cluster.updated_at = utcnow()


def kubeconfig(cluster: Cluster, keys: Keyring) -> str:
    if cluster.kubeconfig_encrypted is None:
        raise NotFound(f"cluster '{cluster.name}' has no kubeconfig")
    return keys.decrypt(cluster.kubeconfig_encrypted, _kubeconfig_context(cluster))
