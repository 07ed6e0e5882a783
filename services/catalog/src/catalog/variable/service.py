"""Variable rules: create, alias, override, edit and delete, secrets encrypted and never echoed, events out."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.events.publish import emit
from catalog.models import Variable
from catalog.variable import parents
from catalog.variable.items import Item, from_row, value_context
from catalog.variable.lookup import find, find_builtin, service_ref
from catalog.variable.parents import Parent
from catalog.variable.rules import check_key, check_mount_free, check_mount_path
from catalog.variable.schemas import VariableAliasRequest, VariableEditRequest, VariableOverrideRequest, VariableRequest
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, NotFound
from slipway.timeutil import utcnow


async def _emit(session: AsyncSession, subject: str, row: Variable) -> None:
    """Ids and scope only: never a key's value, never a secret."""
    payload = {"variable_id": str(row.id), "scope": row.scope, "parent_id": str(row.parent_id),
               "project_id": str(row.project_id)}  # fmt: skip
    if row.environment_id is not None:
        payload["environment_id"] = str(row.environment_id)
    await emit(session, subject, row.organization_id, row.id, payload)


def _set_value(row: Variable, value: str, keys: Keyring) -> None:
    if row.is_secret:
        row.value, row.value_encrypted = None, keys.encrypt(value, value_context(row.id))
    else:
        row.value, row.value_encrypted = value, None


def _new(parent: Parent, key: str, variable_type: str, is_secret: bool) -> Variable:
    return Variable(
        id=uuid.uuid4(),
        organization_id=parent.organization_id,
        project_id=parent.project_id,
        environment_id=parent.environment_id,
        service_id=parent.service_id,
        scope=parent.scope,
        parent_id=parent.id,
        key=key,
        is_secret=is_secret,
        variable_type=variable_type,
        enable_interpolation_in_file=False,
    )


async def _save(session: AsyncSession, row: Variable, where: str) -> Variable:
    session.add(row)
    await flush_or_conflict(session, f"key '{row.key}' already exists in this {where}")
    await session.refresh(row, ["created_at"])
    await _emit(session, Subjects.VARIABLE_CREATED, row)
    return row


def _no_secret_manager(value: uuid.UUID | None) -> None:
    if value is not None:
        raise BadRequest("secret_manager_access_id: external secret managers are not supported")


async def create(session: AsyncSession, body: VariableRequest, keys: Keyring) -> tuple[Variable, Parent]:
    _no_secret_manager(body.secret_manager_access_id)
    check_key(body.key)
    mount = check_mount_path(body.mount_path)
    parent = await parents.load(session, body.variable_scope, body.variable_parent_id)
    if mount is not None:
        await check_mount_free(session, parent, mount, body.key)
    row = _new(parent, body.key, "FILE" if mount else "VALUE", body.is_secret)
    row.mount_path, row.description = mount, body.description
    row.enable_interpolation_in_file = bool(body.enable_interpolation_in_file) and mount is not None
    _set_value(row, body.value, keys)
    return await _save(session, row, parent.scope.lower()), parent


async def alias(
    session: AsyncSession, target_id: uuid.UUID, body: VariableAliasRequest
) -> tuple[Variable, Parent, Item]:
    target, _ = await find(session, target_id)
    if target.variable_type == "ALIAS":
        raise BadRequest("an alias cannot be aliased: alias the variable it points to")
    check_key(body.key)
    parent = await parents.load(session, body.alias_scope, body.alias_parent_id, "alias_scope")
    if not parent.sees(target):
        raise BadRequest(
            f"alias_scope: an alias must be at the scope of {target.key} ({target.scope}) or below it, "
            "where it is visible"
        )
    row = _new(parent, body.key, "ALIAS", target.is_secret)
    row.target_id, row.target_key, row.description = target.id, target.key, body.description
    return await _save(session, row, parent.scope.lower()), parent, target


async def override(
    session: AsyncSession, target_id: uuid.UUID, body: VariableOverrideRequest, keys: Keyring
) -> tuple[Variable, Parent, Item]:
    target, _ = await find(session, target_id)
    if target.is_builtin:
        raise BadRequest("built-in variables cannot be overridden (create an alias instead)")
    if target.variable_type == "ALIAS":
        raise BadRequest("an alias cannot be overridden: override the variable it points to")
    parent = await parents.load(session, body.override_scope, body.override_parent_id, "override_scope")
    if not parent.sees(target) or parent.level <= target.level:
        raise BadRequest(
            f"override_scope: an override must be at a lower scope than {target.key} ({target.scope}), "
            "where it is visible"
        )
    row = _new(parent, target.key, "OVERRIDE", target.is_secret)
    row.target_id, row.target_key, row.description = target.id, target.key, body.description
    row.mount_path = target.mount_path
    interpolate = body.enable_interpolation_in_file
    row.enable_interpolation_in_file = (target.interpolate if interpolate is None else interpolate) and bool(
        target.mount_path
    )
    _set_value(row, body.value, keys)
    return await _save(session, row, parent.scope.lower()), parent, target


async def stored(session: AsyncSession, variable_id: uuid.UUID, action: str) -> Variable:
    """The stored variable; a built-in answers 400 (it is computed, never edited), anything else 404."""
    row = await session.get(Variable, variable_id)
    if row is not None:
        return row
    if await find_builtin(session, variable_id) is not None:
        raise BadRequest(f"built-in variables cannot be {action}")
    raise NotFound("variable not found")


async def _dependents(session: AsyncSession, row: Variable) -> list[Variable]:
    """Aliases and overrides pointing at `row`, and recursively those pointing at its overrides."""
    found: list[Variable] = []
    frontier = [row.id]
    while frontier:
        rows = list((await session.execute(select(Variable).where(Variable.target_id.in_(frontier)))).scalars())
        found.extend(rows)
        frontier = [r.id for r in rows]
    return found


async def edit(session: AsyncSession, row: Variable, body: VariableEditRequest, keys: Keyring) -> None:
    _no_secret_manager(body.secret_manager_access_id)
    check_key(body.key)
    if row.variable_type == "OVERRIDE" and body.key != row.key:
        raise BadRequest("key: an override's key cannot be edited (it is the key of the variable it overrides)")
    if row.variable_type == "ALIAS" and body.value is not None:
        raise BadRequest("value: an alias's value cannot be edited (it is the value of the variable it points to)")
    if body.key != row.key:
        for dependent in await _dependents(session, row):  # the row or one of its overrides is their target
            dependent.target_key = body.key
            if dependent.variable_type == "OVERRIDE":  # an override keeps its target's key
                dependent.key, dependent.updated_at = body.key, utcnow()
        row.key = body.key
    if body.value is not None:
        _set_value(row, body.value, keys)
    if "description" in body.model_fields_set:
        row.description = body.description
    if body.enable_interpolation_in_file is not None and row.mount_path:
        row.enable_interpolation_in_file = body.enable_interpolation_in_file
    row.updated_at = utcnow()
    await flush_or_conflict(session, f"key '{body.key}' already exists where this variable or one of its overrides is")
    await _emit(session, Subjects.VARIABLE_UPDATED, row)


async def delete(session: AsyncSession, row: Variable) -> None:
    """The variable and every alias or override pointing at it."""
    for gone in [*await _dependents(session, row), row]:
        await _emit(session, Subjects.VARIABLE_DELETED, gone)
        await session.delete(gone)
    await session.flush()


async def item_of(session: AsyncSession, row: Variable, parent: Parent | None = None) -> Item:
    return from_row(row, parent.service_ref if parent is not None else await service_ref(session, row))
