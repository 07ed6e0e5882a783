"""What a service runs with: its visible variables resolved (lower scope wins, aliases, overrides, secrets, files).

`resolve(items)` is pure (the items already carry decrypted secrets); `resolve_service` loads and
decrypts what a service sees, for the deployer's desired-state snapshot.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Service
from catalog.settings import CatalogSettings
from catalog.variable.items import Item
from slipway.crypto import Keyring, keyring_from

INTERPOLATION = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class Resolved:
    env: dict[str, str] = field(default_factory=dict)  # a file variable's value is its mount path
    files: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (key, mount_path, content, is_secret)
    secret_keys: set[str] = field(default_factory=set)


def _by_level(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda i: (i.level, i.created_at, str(i.id)))


def winners(items: list[Item]) -> dict[str, Item]:
    """key → the variable that gives it its value: the lowest scope wins (an override is lower than its target).

    Aliases take part under their own key; their value is looked up afterwards through `source`.
    """
    final: dict[str, Item] = {}
    for item in _by_level(items):
        current = final.get(item.key)
        if current is None or item.level >= current.level:
            final[item.key] = item
    return final


def source(alias: Item, items_by_id: dict[uuid.UUID, Item], values: dict[str, Item]) -> Item | None:
    """The variable an alias reads: whatever gives its target's key its value here (overrides applied)."""
    target = items_by_id.get(alias.target_id) if alias.target_id is not None else None
    if target is None:
        return None  # dangling (e.g. a built-in of a service since deleted): the alias yields nothing
    return values.get(target.key, target)


def interpolate(content: str, env: dict[str, str]) -> str:
    """`{{NAME}}` → NAME's resolved value; unknown names are left as written."""
    return INTERPOLATION.sub(lambda m: env.get(m.group(1), m.group(0)), content)


def resolve(items: list[Item]) -> Resolved:
    """Resolve everything one service sees (built-ins, project, environment and its own variables)."""
    by_id = {i.id: i for i in items}
    # what plain keys resolve to, aliases aside (an alias of an alias cannot exist)
    values = winners([i for i in items if i.variable_type != "ALIAS"])
    out = Resolved()
    files: dict[str, tuple[int, str, Item]] = {}  # mount path → (level, key, file variable)
    for key, winner in winners(items).items():
        giver = source(winner, by_id, values) if winner.variable_type == "ALIAS" else winner
        if giver is None:
            continue
        if giver.is_secret:
            out.secret_keys.add(key)
        if giver.mount_path:
            out.env[key] = giver.mount_path
            if giver is winner:
                known = files.get(giver.mount_path)
                if known is None or winner.level >= known[0]:
                    files[giver.mount_path] = (winner.level, key, giver)
        else:
            out.env[key] = giver.plaintext or ""
    for path, (_, key, item) in sorted(files.items(), key=lambda entry: entry[1][1]):
        content = item.plaintext or ""
        out.files.append((key, path, interpolate(content, out.env) if item.interpolate else content, item.is_secret))
    return out


async def resolve_service(session: AsyncSession, service: Service, keys: Keyring | None = None) -> Resolved:
    """The resolved variables of `service`, secrets decrypted (never log the result).

    `keys` defaults to the catalog's configured key ring (SLIPWAY_ENCRYPTION_KEYS).
    """
    from catalog.variable.visible import visible_to_service

    ring = keys if keys is not None else keyring_from(CatalogSettings())
    return resolve(await visible_to_service(session, service, ring))
