"""logs settings (env prefix LOGS_)."""

from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class LogsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOGS_", extra="ignore", populate_by_name=True)

    service_name: str = "logs"
    port: int = 8105
    # the services logs calls (the stack sets them): catalog for scopes, deployer for statuses
    catalog_url: str = "http://127.0.0.1:8102"
    deployer_url: str = "http://127.0.0.1:8104"
    # deployment logs: keep the lines of the last N executions of each environment (Qovery keeps 20)
    retain_deployments: int = 100
    prune_interval_seconds: float = 300.0
    # a longer line is cut (and marked) before it is stored or streamed
    max_line_chars: int = 32_768
    # lines queued per websocket client; a client that falls further behind is re-synchronised from the database
    client_buffer: int = 10_000
    # how long a new websocket client waits for lines published just before it connected to be stored
    catch_up_seconds: float = 3.0
    # /deployment/status: bursts of status events are coalesced over this window; a refresh at least this often
    status_coalesce_seconds: float = 0.25
    status_refresh_seconds: float = 30.0
    # service logs and status websockets (service_logs/, fanout.py). A service-log client whose queue of
    # service_client_buffer frames is full is closed with 1011 (the deployment-logs client_buffer is separate).
    service_client_buffer: int = 1000
    ring_lines: int = 10_000  # recent lines kept per watched service (reconnects resume from here)
    history_seconds: int = 3600  # how far back the first watcher of a service looks when it gives no `start`
    default_limit: int = 1000  # history lines sent at connect when the client gives neither `start` nor `limit`
    tail_keepalive_seconds: float = 10.0  # the deployer stops a tail after 30 s without one
    tail_request_timeout: float = 10.0
    upstream_linger_seconds: float = 5.0  # a service's upstream (and status poller) outlives its last client
    status_poll_seconds: float = 2.0
    scope_cache_seconds: float = 60.0
