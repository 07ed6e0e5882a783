"""iam settings (env prefix IAM_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class IamSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IAM_", extra="ignore", populate_by_name=True)

    service_name: str = "iam"
    port: int = 8101
