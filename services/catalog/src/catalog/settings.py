"""catalog settings (env prefix CATALOG_)."""

import re
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from slipway.crypto import Keyring, keyring_from
from slipway.desired import OFFICIAL_DATABASE_IMAGES
from slipway.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    service_name: str = "catalog"
    port: int = 8102
    # The default cluster of every organization: the local container engine (Docker Engine API).
    default_engine: str = "podman"
    default_engine_host: str = "unix:///run/slipway/podman.sock"
    # The default registry of every organization, suited to the default cluster (a local registry).
    default_registry_url: str = "127.0.0.1:5000"
    # The edge proxy's public ports: links are https://<host>[:edge_https_port] (the stack sets them).
    edge_https_port: int = 443
    edge_http_port: int = 80
    # Generated public hosts are <service>-<environment>.<base_domain>: the installation's default for new
    # clusters (each cluster may name its own: `slipway_base_domain`). A public domain gets ACME certificates
    # when the deployer's DEPLOYER_EDGE_ACME_PUBLIC_DOMAINS is on; its wildcard DNS must point at the edge.
    base_domain: str = "localhost"
    # Where Git providers reach this installation (the gateway's public address): the webhook URLs start with it.
    public_url: str = "http://127.0.0.1:8100"
    # Preview environments: deleted once their pull request closed (the sweeper asks the provider every
    # `preview_sweep_seconds`, besides the close event) or `preview_ttl_hours` after they were opened (0: no limit).
    preview_ttl_hours: float = Field(default=168.0, ge=0)
    preview_sweep_seconds: float = Field(default=300.0, gt=0)
    # Commit statuses and PR comments owed to Git providers are sent every `git_report_seconds`, each retried
    # with a doubling delay up to `git_report_attempts` times.
    git_report_seconds: float = Field(default=2.0, gt=0)
    git_report_attempts: int = Field(default=8, ge=1)
    # The deployment rules' auto start/stop schedules are looked at every `schedule_seconds`.
    schedule_seconds: float = Field(default=30.0, gt=0)
    # The image of each database type in container mode, `{version}` replaced by the database's version (JSON,
    # e.g. {"POSTGRESQL": "registry.internal/postgres:{version}"}); a type left out keeps the official image. A
    # cluster's advanced setting `slipway.database.registry_mirror` then pulls them through its mirror: an
    # installation with no access to Docker Hub (offline, air-gapped) points these at images it has.
    database_images: dict[str, str] = Field(default_factory=dict)

    @field_validator("database_images")
    @classmethod
    def _known_databases(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(OFFICIAL_DATABASE_IMAGES))
        if unknown:
            raise ValueError(
                f"CATALOG_DATABASE_IMAGES: {', '.join(unknown)} is not a database type "
                f"({', '.join(OFFICIAL_DATABASE_IMAGES)})"
            )
        empty = sorted(k for k, v in value.items() if not v.strip())
        if empty:
            raise ValueError(f"CATALOG_DATABASE_IMAGES: the image of {', '.join(empty)} is empty")
        return value

    @field_validator("base_domain")
    @classmethod
    def _valid_base_domain(cls, value: str) -> str:
        problem = base_domain_problem(value)
        if problem:
            raise ValueError(f"CATALOG_BASE_DOMAIN: {problem}")
        return value.lower().rstrip(".")


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_BASE_DOMAIN = 180  # leaves room for `p<port>-<63-character slug>.` in a 253-character host name


def base_domain_problem(name: str) -> str | None:
    """Why `name` cannot end generated host names (a DNS name of letters, digits and hyphens), or None."""
    cleaned = name.lower().rstrip(".")
    if not cleaned:
        return "a base domain is required"
    if len(cleaned) > MAX_BASE_DOMAIN:
        return f"at most {MAX_BASE_DOMAIN} characters"
    labels = cleaned.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return f"'{name}' is not a DNS name (labels of letters, digits and inner hyphens, separated by dots)"
    if all(label.isdigit() for label in labels):
        return f"'{name}' is an IP address, not a domain"
    return None


def _keys(request: Request) -> Keyring:
    return keyring_from(request.app.state.settings)


# The catalog's key ring, for routes that seal or open secrets (a deletion seals its tombstone).
KeysDep = Annotated[Keyring, Depends(_keys)]
