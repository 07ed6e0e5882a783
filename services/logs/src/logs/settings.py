"""logs settings (env prefix LOGS_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class LogsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOGS_", extra="ignore", populate_by_name=True)

    service_name: str = "logs"
    port: int = 8105
