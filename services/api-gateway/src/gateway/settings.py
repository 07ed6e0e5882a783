"""Gateway settings (env prefix GATEWAY_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "api-gateway"
    port: int = 8100
    iam_url: str = "http://127.0.0.1:8101"
    catalog_url: str = "http://127.0.0.1:8102"
    builder_url: str = "http://127.0.0.1:8103"
    deployer_url: str = "http://127.0.0.1:8104"
    logs_url: str = "http://127.0.0.1:8105"
    # How long an introspected API token is trusted before iam is asked again (revocation delay).
    token_cache_seconds: float = 5.0
    # How long an authorization decision is reused for the same caller and scope (role-change delay).
    decision_cache_seconds: float = 2.0
    upstream_timeout_seconds: float = 60.0
    # Must match iam's IAM_JWT_ISSUER / IAM_JWT_AUDIENCE.
    jwt_issuer: str = "slipway"
    jwt_audience: str = "slipway-api"

    def upstream(self, service: str) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")
