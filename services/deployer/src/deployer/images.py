"""Image references of services: where a container's or image job's image is pulled from, databases' images."""

from __future__ import annotations

import re

from slipway.desired import ServiceSpec
from slipway.desired import database_image as official_database_image


def image_ref(service: ServiceSpec) -> str | None:
    """`<registry host>/<name>:<tag>` (no scheme; the registry is not repeated when the name already starts with
    it), or None for services not run from an image."""
    if service.image is None:
        return None
    registry = re.sub(r"^[a-z][a-z0-9+.-]*://", "", service.image.registry.url).rstrip("/")
    name, tag = service.image.image_name, service.image.tag
    if not registry or name.startswith(registry + "/"):
        return f"{name}:{tag}"
    return f"{registry}/{name}:{tag}"


def database_image(service: ServiceSpec) -> str | None:
    """A container database's image: catalog's choice (its settings, the cluster's mirror), else the official one."""
    db = service.database
    if db is None:
        return None
    return db.image or official_database_image(db.type, db.version)


def database_pull_hint(service: ServiceSpec) -> str:
    """What to do when a database's image cannot be pulled (said with the engine's error)."""
    if service.database is None:
        return ""
    return (
        f"; a {service.database.type} database's image comes from catalog's CATALOG_DATABASE_IMAGES (its "
        f"{service.database.type} entry, the official image otherwise) pulled through the cluster's advanced setting "
        "slipway.database.registry_mirror: point one of them at a registry this engine can pull it from"
    )
