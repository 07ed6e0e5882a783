"""deployer settings (env prefix DEPLOYER_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class DeployerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEPLOYER_", extra="ignore", populate_by_name=True)

    service_name: str = "deployer"
    port: int = 8104
