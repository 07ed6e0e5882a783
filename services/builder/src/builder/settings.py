"""builder settings (env prefix BUILDER_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class BuilderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BUILDER_", extra="ignore", populate_by_name=True)

    service_name: str = "builder"
    port: int = 8103
