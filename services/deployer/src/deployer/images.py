"""Image references of services: where a container's or image job's image is pulled from, databases' images."""

from __future__ import annotations

import re

from slipway.desired import ServiceSpec

# engine-less images for databases in container mode (pulled from the environment's engine)
DATABASE_IMAGES = {"POSTGRESQL": "postgres", "MYSQL": "mysql", "MONGODB": "mongo", "REDIS": "redis"}


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
    if service.database is None:
        return None
    return f"{DATABASE_IMAGES[service.database.type]}:{service.database.version}"
