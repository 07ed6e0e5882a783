"""VariableResponse bodies: secrets' values are always null; aliases and overrides name their target."""

from __future__ import annotations

import uuid
from typing import Any

from catalog.variable.items import Item
from catalog.variable.schemas import VariableResponse, VariableTarget
from slipway.timeutil import rfc3339


def _target(item: Item, by_id: dict[uuid.UUID, Item]) -> VariableTarget:
    found = by_id.get(item.target_id) if item.target_id is not None else None
    if found is None:  # a built-in whose service is gone: only what the row remembers
        return VariableTarget(
            id=str(item.target_id), key=item.target_key or "", value=None, mount_path="", scope="BUILT_IN",
            variable_type="BUILT_IN",
        )  # fmt: skip
    return VariableTarget(
        id=str(found.id),
        key=found.key,
        value=None if found.is_secret else found.value,
        mount_path=found.mount_path or "",
        scope=found.scope,  # type: ignore[arg-type]
        variable_type=found.variable_type,  # type: ignore[arg-type]
    )


def render(item: Item, by_id: dict[uuid.UUID, Item]) -> dict[str, Any]:
    """`by_id` holds what the item's target may be (everything visible from where it is listed)."""
    service = item.service
    return VariableResponse(
        id=str(item.id),
        created_at=rfc3339(item.created_at),
        updated_at=rfc3339(item.updated_at or item.created_at),
        key=item.key,
        # an alias has no value of its own (aliased_variable carries the target's); a secret never shows
        value=None if item.is_secret or item.variable_type == "ALIAS" else item.value,
        mount_path=item.mount_path,
        aliased_variable=_target(item, by_id) if item.variable_type == "ALIAS" else None,
        overridden_variable=_target(item, by_id) if item.variable_type == "OVERRIDE" else None,
        scope=item.scope,  # type: ignore[arg-type]
        variable_type=item.variable_type,  # type: ignore[arg-type]
        service_id=str(service.id) if service is not None else None,
        service_name=service.name if service is not None else None,
        service_type=service.kind if service is not None else None,  # type: ignore[arg-type]
        is_secret=item.is_secret,
        description=item.description,
        enable_interpolation_in_file=item.interpolate,
    ).dump()
