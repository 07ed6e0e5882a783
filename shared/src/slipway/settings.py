"""Settings base class every service's settings extend (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from slipway.crypto import DEV_KEY, parse_keys


class ServiceSettings(BaseSettings):
    """Common settings; each service subclasses this with its own env prefix.

    Shared infrastructure settings (database, NATS, internal key, logging, tracing) are read
    without a prefix so one environment configures every service; the rest use the service's
    prefix (e.g. `CATALOG_PORT`).
    """

    # hide_input_in_errors: a malformed setting may be a secret (a key, a URL with a password).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    service_name: str = "slipway"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/slipway",
        validation_alias="DATABASE_URL",
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias="NATS_URL")
    internal_auth_key: SecretStr = Field(
        default=SecretStr("dev-insecure-internal-key-change-me"),
        validation_alias="SLIPWAY_INTERNAL_KEY",
    )
    # Encryption at rest (slipway.crypto): comma-separated urlsafe-base64 32-byte keys, the first
    # encrypts, all decrypt. The default is a published development key, INSECURE outside tests and
    # a first local run; `slipway-stack up` generates a key per installation.
    encryption_keys: SecretStr = Field(default=SecretStr(DEV_KEY), validation_alias="SLIPWAY_ENCRYPTION_KEYS")
    log_level: str = Field(default="INFO", validation_alias="SLIPWAY_LOG_LEVEL")
    # OpenTelemetry exporter: "none" (default), "console", or "otlp" (uses OTEL_EXPORTER_OTLP_ENDPOINT).
    otel_exporter: str = Field(default="none", validation_alias="SLIPWAY_OTEL_EXPORTER")
    max_body_bytes: int = Field(default=1_048_576, validation_alias="SLIPWAY_MAX_BODY_BYTES")
    run_migrations: bool = Field(default=True, validation_alias="SLIPWAY_RUN_MIGRATIONS")
    outbox_poll_seconds: float = 0.5

    @field_validator("encryption_keys")
    @classmethod
    def _valid_encryption_keys(cls, value: SecretStr) -> SecretStr:
        parse_keys(value.get_secret_value())  # KeyConfigError (a ValueError) names what is wrong
        return value
