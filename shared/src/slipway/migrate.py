"""`python -m slipway.migrate <service>...`: bring each service's schema to head (DATABASE_URL)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from slipway.migrations import upgrade
from slipway.settings import ServiceSettings

# the services that keep a schema, in the order a fresh database is migrated
SERVICE_PACKAGES = ("iam", "catalog", "builder", "deployer", "logs")


def migrations_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"unknown service package '{package}'")
    return Path(list(spec.submodule_search_locations)[0]) / "migrations"


def main(packages: list[str]) -> int:
    url = ServiceSettings().database_url
    for package in packages:
        print(f"migrating {package}…", flush=True)
        upgrade(migrations_dir(package), url, package)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
