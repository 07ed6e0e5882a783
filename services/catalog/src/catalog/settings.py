"""catalog settings (env prefix CATALOG_)."""

from pydantic_settings import SettingsConfigDict

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
