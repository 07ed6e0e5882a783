"""Input rules of variables: env-var keys (QOVERY_ reserved), file mount paths unique where they meet."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Variable
from catalog.variable.items import from_row
from catalog.variable.parents import Parent
from slipway.errors import BadRequest

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = "QOVERY_"
MAX_KEY = 255
MAX_MOUNT_PATH = 1024


def check_key(key: str, field: str = "key") -> None:
    if not key:
        raise BadRequest(f"{field}: must not be empty")
    if len(key) > MAX_KEY:
        raise BadRequest(f"{field}: at most {MAX_KEY} characters")
    if not KEY.match(key):
        raise BadRequest(f"{field}: '{key}' must be letters, digits and underscores, not starting with a digit")
    if key.upper().startswith(RESERVED):
        raise BadRequest(f"{field}: keys starting with {RESERVED} are reserved for built-in variables")


def check_mount_path(path: str | None) -> str | None:
    """None for a plain variable (clients send null or omit it); otherwise an absolute file path."""
    if path is None or path == "":
        return None
    if len(path) > MAX_MOUNT_PATH:
        raise BadRequest(f"mount_path: at most {MAX_MOUNT_PATH} characters")
    parts = path.split("/")
    if not path.startswith("/") or path.endswith("/") or "\x00" in path or ".." in parts or "" in parts[1:]:
        raise BadRequest(f"mount_path: '{path}' must be an absolute file path (no '..', no trailing '/')")
    return path


async def check_mount_free(session: AsyncSession, parent: Parent, path: str, key: str) -> None:
    """No other key may mount a file at that path where both are visible (above, at or below `parent`)."""
    rows = await session.execute(
        select(Variable).where(
            Variable.project_id == parent.project_id, Variable.mount_path == path, Variable.key != key
        )
    )
    for row in rows.scalars():
        item = from_row(row)
        if parent.sees(item) or parent.contains(item):
            raise BadRequest(f"mount_path: '{path}' is already used by variable {row.key}")
