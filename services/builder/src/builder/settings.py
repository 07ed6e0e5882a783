"""builder settings (env prefix BUILDER_; DOCKER_HOST without a prefix, like the Docker CLI)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class BuilderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BUILDER_", extra="ignore", populate_by_name=True)

    service_name: str = "builder"
    port: int = 8103
    # the container engine's Docker-compatible API (Docker or `podman system service`); None: the local default
    docker_host: str | None = Field(default=None, validation_alias="DOCKER_HOST")
    # the stack's loopback registry: spoken to over plain http like any loopback registry
    registry_url: str | None = None
    # how many builds run at once in this process; the others wait QUEUED
    max_concurrent_builds: int = Field(default=2, ge=1)
    # a build (clone + build + push) taking longer fails with "timed out after …"
    build_timeout_seconds: float = Field(default=1800.0, gt=0)
    git_binary: str = "git"
    # file:// repositories read the builder host's disk: fine on the one-machine default, off for shared hosts
    allow_file_urls: bool = True
    # how often the images of deleted services still on the engine (a container was using them) are tried again
    image_sweep_seconds: float = Field(default=30.0, gt=0)
