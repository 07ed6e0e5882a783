"""cloneEnvironment's copy of environment and service variables: new ids, secrets re-encrypted, targets remapped.

An ALIAS or OVERRIDE keeps pointing at a project variable (or, cloned into another project, at that
project's variable of the same key); one pointing at a cloned variable or built-in points at the copy.
An override whose project variable has no counterpart in the other project becomes a plain variable
(the clone runs with the same value); an alias of it has nothing to read and is not copied.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.events.publish import emit
from catalog.models import Environment, Service, Variable
from catalog.variable import builtins
from catalog.variable.items import value_context
from slipway.contracts import Subjects
from slipway.crypto import CryptoError, Keyring
from slipway.errors import Conflict


def _builtin_targets(
    source: Environment, env: Environment, services: dict[uuid.UUID, Service]
) -> dict[uuid.UUID, tuple[uuid.UUID, str, str]]:
    """Every possible built-in id of `source` → (its id in the clone, old key head, new key head)."""
    old = builtins.candidate_ids(
        source.id, [(old_id, svc.kind, (svc.config or {}).get("type")) for old_id, svc in services.items()]
    )
    found: dict[uuid.UUID, tuple[uuid.UUID, str, str]] = {}
    for builtin, owner in old.items():
        if owner == source.id:
            found[builtin] = (env.id, "", "")
        else:
            svc = services[owner]
            found[builtin] = (
                svc.id,
                f"QOVERY_{builtins.label(svc)}_{hosts.short_id(owner).upper()}",
                builtins.prefix(svc),
            )
    return found


def _remap_builtin(row: Variable, target: tuple[uuid.UUID, str, str]) -> tuple[uuid.UUID, str]:
    owner, old_head, new_head = target
    key = row.target_key or ""
    if old_head and key.startswith(old_head + "_"):
        key = new_head + key[len(old_head) :]
    return builtins.builtin_id(owner, key), key


async def _project_variables(session: AsyncSession, project_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Variable.id, Variable.key).where(Variable.project_id == project_id, Variable.scope == "PROJECT")
    )
    return {ident: key for ident, key in rows}


def _secret(row: Variable, new_id: uuid.UUID, keys: Keyring) -> str | None:
    if row.value_encrypted is None:
        return None
    try:
        return keys.encrypt(keys.decrypt(row.value_encrypted, value_context(row.id)), value_context(new_id))
    except CryptoError:
        raise Conflict(
            f"variable {row.key}: its secret cannot be decrypted with the configured encryption keys "
            "(SLIPWAY_ENCRYPTION_KEYS); nothing was cloned"
        ) from None


async def clone_variables(
    session: AsyncSession,
    source: Environment,
    env: Environment,
    services: dict[uuid.UUID, Service],
    keys: Keyring,
) -> int:
    """Copy the ENVIRONMENT- and service-scoped variables of `source` into `env`; the number copied."""
    rows = list(
        (
            await session.execute(
                select(Variable).where(Variable.environment_id == source.id).order_by(Variable.created_at, Variable.id)
            )
        ).scalars()
    )
    new_ids = {row.id: uuid.uuid4() for row in rows}
    builtin_targets = _builtin_targets(source, env, services)
    source_project = await _project_variables(session, source.project_id)
    same_project = env.project_id == source.project_id
    target_project = source_project if same_project else await _project_variables(session, env.project_id)
    by_key = {key: ident for ident, key in target_project.items()}
    copies: list[Variable] = []
    for row in rows:
        variable_type, target_id, target_key = row.variable_type, row.target_id, row.target_key
        if target_id is not None:
            if target_id in new_ids:
                target_id = new_ids[target_id]
            elif target_id in builtin_targets:
                target_id, target_key = _remap_builtin(row, builtin_targets[target_id])
            elif target_id in source_project and not same_project:
                target_id = by_key.get(source_project[target_id])
                if target_id is None and variable_type == "ALIAS":
                    continue
                if target_id is None:  # an override with nothing to override there: a variable of its own
                    variable_type, target_key = ("FILE" if row.mount_path else "VALUE"), None
            # else: a project variable of the same project, or already dangling: kept as it is
        service = services.get(row.service_id) if row.service_id is not None else None
        if row.service_id is not None and service is None:  # pragma: no cover - a service variable's service
            continue
        new_id = new_ids[row.id]
        copies.append(
            Variable(
                id=new_id,
                organization_id=env.organization_id,
                project_id=env.project_id,
                environment_id=env.id,
                service_id=service.id if service is not None else None,
                scope=row.scope,
                parent_id=service.id if service is not None else env.id,
                key=row.key,
                value=row.value,
                value_encrypted=_secret(row, new_id, keys) if row.is_secret else None,
                is_secret=row.is_secret,
                variable_type=variable_type,
                mount_path=row.mount_path,
                description=row.description,
                enable_interpolation_in_file=row.enable_interpolation_in_file,
                target_id=target_id,
                target_key=target_key,
                created_at=func.clock_timestamp(),  # listings keep the source's order
            )
        )
    for copy in copies:  # every secret was re-encrypted before the first row is written
        session.add(copy)
        await session.flush()
        payload = {"variable_id": str(copy.id), "scope": copy.scope, "parent_id": str(copy.parent_id),
                   "project_id": str(copy.project_id), "environment_id": str(env.id)}  # fmt: skip
        await emit(session, Subjects.VARIABLE_CREATED, copy.organization_id, copy.id, payload)
    return len(copies)
