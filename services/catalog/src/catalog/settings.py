"""catalog settings (env prefix CATALOG_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    service_name: str = "catalog"
    port: int = 8102
