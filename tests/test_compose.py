"""docker-compose.yml stays in step with the services: every module runs, every variable is a real setting."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from slipway.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "iam": ("iam.settings", "IamSettings"),
    "catalog": ("catalog.settings", "CatalogSettings"),
    "builder": ("builder.settings", "BuilderSettings"),
    "deployer": ("deployer.settings", "DeployerSettings"),
    "logs": ("logs.settings", "LogsSettings"),
    "api-gateway": ("gateway.settings", "GatewaySettings"),
}


def env_names(cls: type[ServiceSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(str(alias) if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def test_compose_services_match_the_code() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, (module, cls_name) in SETTINGS.items():
        service = services[name]
        package = service["command"][-1]
        importlib.import_module(f"{package}.__main__".replace(".__main__", ".main"))
        cls = getattr(importlib.import_module(module), cls_name)
        unknown = set(service["environment"]) - env_names(cls)
        assert not unknown, (name, unknown)
        port = service["environment"][f"{cls.model_config['env_prefix']}PORT"]
        assert int(port) == cls.model_fields["port"].default
    migrate = services["migrate"]["command"]
    assert migrate[:3] == ["python", "-m", "slipway.migrate"]
    assert set(migrate[3:]) == {"iam", "catalog", "builder", "deployer", "logs"}
