"""iam settings (env prefix IAM_)."""

from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class OidcProvider(BaseModel):
    """A standard OpenID Connect provider (discovery document at `<issuer>/.well-known/openid-configuration`)."""

    name: str
    issuer: str
    client_id: str
    client_secret: str
    scope: str = "openid email profile"


class IamSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IAM_", extra="ignore", populate_by_name=True)

    service_name: str = "iam"
    port: int = 8101
    jwt_issuer: str = "slipway"
    jwt_audience: str = "slipway-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    # Open sign-up; when off, accounts are created only through an invitation (or OIDC with one).
    signup_enabled: bool = False
    login_max_failures: int = 5
    invitation_ttl_days: int = 7
    # Base URL users reach Slipway at (invitation links, OIDC redirect URIs).
    public_url: str = "http://127.0.0.1:8100"
    # JSON list of OidcProvider, e.g. IAM_OIDC_PROVIDERS='[{"name":"corp","issuer":"https://…",…}]'
    oidc_providers: list[OidcProvider] = []
    # Audit entries are kept forever unless an operator sets a retention.
    audit_retention_days: int | None = None
