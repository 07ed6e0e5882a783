"""deployer settings (env prefix DEPLOYER_)."""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from slipway.settings import ServiceSettings


class DeployerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEPLOYER_", extra="ignore", populate_by_name=True)

    service_name: str = "deployer"
    port: int = 8104
    # the services the deployer calls (the stack sets them)
    catalog_url: str = "http://127.0.0.1:8102"
    builder_url: str = "http://127.0.0.1:8103"
    # the queue: how many environments deploy at once in this process, and the lease that makes a
    # crashed process's deployment be taken over (renewed every lease_seconds / 3)
    max_parallel_deployments: int = 4
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    build_poll_seconds: float = 5.0  # a running build is followed by its events; asked directly this often
    # the cron scheduler (scheduler.py): how often due CRON schedules are looked for, and how long a run
    # marked by a process that died blocks the next ones (the engine's job timeout, 1 h, plus a margin)
    cron_tick_seconds: float = 10.0
    # the runtime driver for docker-engine clusters ("docker": Docker Engine API through DOCKER_HOST)
    runtime: str = "docker"
    # the docker-engine runtime driver (runtime/docker.py) and the Caddy edge it routes through (edge/caddy.py)
    docker_host: str | None = Field(default=None, validation_alias=AliasChoices("DEPLOYER_DOCKER_HOST", "DOCKER_HOST"))
    edge_admin_url: str = "http://127.0.0.1:2019"
    edge_http_port: int = 80
    # the edge resolver (`python -m slipway.edgedns`) Caddy resolves dynamic upstreams through; unset: Caddy
    # asks aardvark-dns directly (a query aardvark drops while reloading stalls requests for 5 s)
    edge_resolver: str | None = None
    edge_https_port: int = 443
    edge_acme_public_domains: bool = False  # real public domains get ACME certificates (else the internal CA)
    edge_acme_email: str | None = None
    # a deleted environment's or service's uninstall that failed (engine away) is retried after this, doubling
    uninstall_retry_seconds: float = Field(default=30.0, gt=0)
    # one ACME directory instead of Let's Encrypt/ZeroSSL (a private CA), its root PEM file when not
    # system-trusted, and the port Caddy answers HTTP-01 on when the edge's port 80 is forwarded elsewhere
    edge_acme_ca: str | None = None
    edge_acme_ca_root: str | None = None
    edge_acme_challenge_port: int | None = Field(default=None, ge=1, le=65535)
    # old instances keep running this long after the edge switched away from them (≥ Caddy's 1 s re-resolve)
    drain_seconds: float = 2.5
    # replaced instances are stopped but kept this long (retired) so their logs stay readable
    retain_replaced_seconds: float = 3600.0
    stop_timeout_seconds: int = 10
    rollout_timeout_seconds: float = 600.0
    # Kubernetes clusters: the client's request rate limit (a token bucket: requests per second, burst)
    kubernetes_qps: float = Field(default=20.0, gt=0)
    kubernetes_burst: int = Field(default=40, ge=1)
    # how often the Kubernetes drift correction puts back what changed behind Slipway's back (0: never)
    kubernetes_reconcile_seconds: float = Field(default=60.0, ge=0)
    job_timeout_seconds: float = Field(default=3600.0, gt=0)  # a job run's maximum duration
    # live service logs: a tail stops this long after the last request (keep-alive) naming it
    tail_idle_seconds: float = 30.0
    # this installation's name on a shared engine: its containers carry `slipway.installation=<id>` and it
    # only ever lists, adopts or removes those (the stack sets a generated id)
    installation_id: str = "default"
