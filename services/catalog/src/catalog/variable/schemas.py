"""Variable bodies with Qovery's field names (requests, alias and override in; VariableResponse out)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

Scope = Literal["APPLICATION", "BUILT_IN", "ENVIRONMENT", "PROJECT", "CONTAINER", "JOB", "HELM", "TERRAFORM",
                "AGENTIC_WORKFLOW"]  # fmt: skip
VariableType = Literal["VALUE", "ALIAS", "OVERRIDE", "BUILT_IN", "FILE", "EXTERNAL_SECRET", "FILE_EXTERNAL_SECRET"]
LinkedServiceType = Literal["APPLICATION", "CONTAINER", "DATABASE", "JOB", "HELM", "TERRAFORM"]
_DESCRIPTION = Field(default=None, max_length=255)


class VariableRequest(BaseModel):
    key: str
    value: str
    is_secret: bool
    variable_scope: Scope
    variable_parent_id: uuid.UUID
    mount_path: str | None = None
    description: str | None = _DESCRIPTION
    enable_interpolation_in_file: bool | None = None
    secret_manager_access_id: uuid.UUID | None = None


class VariableEditRequest(BaseModel):
    key: str
    value: str | None = None
    description: str | None = _DESCRIPTION
    enable_interpolation_in_file: bool | None = None
    secret_manager_access_id: uuid.UUID | None = None


class VariableAliasRequest(BaseModel):
    key: str
    alias_scope: Scope
    alias_parent_id: uuid.UUID
    description: str | None = _DESCRIPTION
    enable_interpolation_in_file: bool | None = None


class VariableOverrideRequest(BaseModel):
    value: str
    override_scope: Scope
    override_parent_id: uuid.UUID
    description: str | None = _DESCRIPTION
    enable_interpolation_in_file: bool | None = None


class VariableTarget(BaseModel):
    """VariableAlias / VariableOverride: every key required, `mount_path` a string (empty when not a file)."""

    id: str
    key: str
    value: str | None
    mount_path: str
    scope: Scope
    variable_type: VariableType


class VariableResponse(BaseModel):
    id: str
    created_at: str
    updated_at: str | None = None
    key: str
    value: str | None  # null for secrets, always present
    mount_path: str | None  # null unless a file, always present
    overridden_variable: VariableTarget | None = None
    aliased_variable: VariableTarget | None = None
    scope: Scope
    variable_type: VariableType
    service_id: str | None = None
    service_name: str | None = None
    service_type: LinkedServiceType | None = None
    owned_by: str = "QOVERY"
    is_secret: bool
    description: str | None = None
    enable_interpolation_in_file: bool = False

    def dump(self) -> dict[str, Any]:
        """Optional keys absent when unset (the spec does not let them be null); `value`/`mount_path` always sent."""
        body = self.model_dump(mode="json", exclude_none=True)
        for name in ("aliased_variable", "overridden_variable"):
            target = getattr(self, name)
            if target is not None:
                body[name]["value"] = target.value
        return {**body, "value": self.value, "mount_path": self.mount_path}
