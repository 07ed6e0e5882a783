"""Container registries seen from the builder: image names there, and whether a tag already exists (V2 API)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from slipway.desired import RegistryRef

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
_LOOPBACK = ("127.", "localhost", "[::1]")
_NO_AUTH = httpx.Auth()  # sends requests as they are


def host_of(url: str) -> str:
    """`host[:port]` of a registry URL given with or without a scheme."""
    return (urlsplit(url).netloc if "://" in url else url).rstrip("/").split("/")[0]


def repository_path(image_repository: str) -> str:
    """`localhost/slipway/x` → `slipway/x`: the first component is dropped when it names a registry host."""
    first, sep, rest = image_repository.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return rest
    return image_repository


def pushed_repository(registry: RegistryRef, image_repository: str) -> str:
    """Where the image goes in `registry` (the registry URL may carry a path prefix)."""
    url = registry.url if "://" in registry.url else f"//{registry.url}"
    parts = urlsplit(url)
    prefix = parts.path.strip("/")
    path = repository_path(image_repository)
    return f"{parts.netloc}/{prefix}/{path}" if prefix else f"{parts.netloc}/{path}"


def base_url(registry: RegistryRef, insecure_hosts: set[str]) -> str:
    if "://" in registry.url:
        parts = urlsplit(registry.url)
        return f"{parts.scheme}://{parts.netloc}"
    host = host_of(registry.url)
    plain = host in insecure_hosts or host.startswith(_LOOPBACK)
    return f"{'http' if plain else 'https'}://{host}"


async def tag_exists(http: httpx.AsyncClient, registry: RegistryRef, reference: str, insecure_hosts: set[str]) -> bool:
    """Whether `host/repo:tag` exists in the registry (basic auth, or a bearer token from its challenge)."""
    repo, _, tag = reference.rpartition(":")
    path = repo.split("/", 1)[1]
    url = f"{base_url(registry, insecure_hosts)}/v2/{path}/manifests/{tag}"
    auth: httpx.Auth = httpx.BasicAuth(registry.username, registry.password or "") if registry.username else _NO_AUTH
    headers = {"Accept": MANIFEST_TYPES}
    r = await http.head(url, headers=headers, auth=auth)
    if r.status_code == 401 and "bearer" in r.headers.get("www-authenticate", "").lower():
        token = await _bearer_token(http, r.headers["www-authenticate"], auth)
        if token:
            r = await http.head(url, headers={**headers, "Authorization": f"Bearer {token}"})
    if r.status_code == 404:
        return False
    r.raise_for_status()
    return True


async def _bearer_token(http: httpx.AsyncClient, challenge: str, auth: httpx.Auth) -> str | None:
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", None)
    if not realm:
        return None
    r = await http.get(realm, params=fields, auth=auth)
    if r.status_code != 200:
        return None
    body = r.json()
    token = body.get("token") or body.get("access_token")
    return str(token) if token else None
