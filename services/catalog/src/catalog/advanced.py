"""Advanced settings (Qovery's flat objects of dotted keys): a typed table per kind, checked strictly, stored as
the values that differ from the defaults, answered as the defaults overlaid with them.

A kind's table names every key it accepts with its type (Qovery's, from its schema) and, for the keys Slipway
acts on, a default: `GET /default…AdvancedSettings` answers those defaults, so clients (the console, the
Terraform provider) know them. Qovery's other keys are accepted with their types and read back as stored, with
no effect on Slipway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from catalog.workload.rules import parse
from slipway.errors import BadRequest

# a key without a default is not in the defaults (Qovery's keys Slipway does not act on)
NO_DEFAULT: Any = object()
# Qovery's schema gives its integers no format: its Go client (CLI, Terraform provider) decodes them as int32
Integer = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_OBJECT_NAME = 253


def _object_name(value: str) -> str:
    if len(value) > MAX_OBJECT_NAME:
        raise PydanticCustomError(
            "dns_subdomain", "{length} characters, at most 253 (a Kubernetes object name)", {"length": len(value)}
        )
    if value and not _DNS_SUBDOMAIN.fullmatch(value):
        raise PydanticCustomError(
            "dns_subdomain",
            "'{value}' is not a Kubernetes object name (a DNS-1123 subdomain: lower-case letters, digits, '-' and "
            "'.', starting and ending with a letter or digit; '' for none)",
            {"value": value},
        )
    return value


# the name of a Kubernetes object (an IngressClass, a ClusterIssuer, a StorageClass); '' = none chosen
ObjectName = Annotated[str, AfterValidator(_object_name)]
_REGISTRY_PATH = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-a-z0-9._]*[a-z0-9])?)*")


def _registry_path(value: str) -> str:
    if value and (len(value) > 255 or not _REGISTRY_PATH.fullmatch(value)):
        raise PydanticCustomError(
            "registry_path",
            "'{value}' is not a registry address (host[:port][/path] in lower case, no scheme; '' for none)",
            {"value": value[:100]},
        )
    return value


# a registry and an optional path images are pulled through (`registry.internal:5000/mirror`); '' = none
RegistryPath = Annotated[str, AfterValidator(_registry_path)]


@dataclass(frozen=True)
class Setting:
    key: str
    type: Any
    default: Any = NO_DEFAULT


class Table:
    """The keys of one kind of advanced settings, and how a body of them is read, stored and answered."""

    def __init__(self, kind: str, settings: Sequence[Setting]) -> None:
        """`kind` as in Qovery's names: `Cluster` (ClusterAdvancedSettings, /defaultClusterAdvancedSettings)."""
        self.kind = kind
        self.keys = {s.key for s in settings}
        self.defaults = {s.key: s.default for s in settings if s.default is not NO_DEFAULT}
        fields: dict[str, Any] = {f"k{i}": (s.type, Field(default=None, alias=s.key)) for i, s in enumerate(settings)}
        # strict: a number is not a string, a boolean is not a number; unknown keys are refused (checked first)
        self.model = create_model(
            f"{kind}AdvancedSettings", __config__=ConfigDict(extra="forbid", strict=True), **fields
        )

    def parse(self, body: dict[str, Any]) -> dict[str, Any]:
        """The values of the keys sent, checked; BadRequest naming the keys that are unknown or of a wrong type."""
        unknown = sorted(set(body) - self.keys)
        if unknown:
            named = ", ".join(key[:100] for key in unknown[:10])
            plural = "" if len(unknown) == 1 else "s"
            raise BadRequest(
                f"{named}: unknown {self.kind.lower()} advanced setting{plural} (the keys are "
                f"Qovery's {self.kind}AdvancedSettings and the slipway.* ones of /default{self.kind}AdvancedSettings)"
            )
        return parse(self.model, body).model_dump(by_alias=True, exclude_unset=True)

    def overrides(self, values: dict[str, Any]) -> dict[str, Any]:
        """What to store: the values that differ from the defaults (a key sent back unchanged follows the default)."""
        return {k: v for k, v in values.items() if k not in self.defaults or self.defaults[k] != v}

    def render(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        return {**self.defaults, **(stored or {})}
