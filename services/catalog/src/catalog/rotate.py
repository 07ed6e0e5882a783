"""`python -m catalog.rotate`: re-encrypt every catalog secret under the first key of SLIPWAY_ENCRYPTION_KEYS.

Rotating a key: prepend the new key (`SLIPWAY_ENCRYPTION_KEYS=new,old`), restart catalog, run this,
then drop the old key once it reports nothing left under it. Rows are read in batches (keyset order
on the id, locked, one transaction per batch); values already under the first key are left alone, so
a run can be interrupted and repeated. A value no key of the ring can decrypt is counted and named
(never printed) and makes the exit status 1; the rest is still rotated. `--dry-run` only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cluster.service import _kubeconfig_context
from catalog.database.service import password_context
from catalog.gittoken.service import _context as git_token_context
from catalog.job.outputs import output_context
from catalog.models import (
    Cluster,
    ContainerRegistry,
    GitToken,
    GitWebhookSecret,
    JobOutput,
    Service,
    Tombstone,
    Variable,
)
from catalog.registry.service import _context as registry_context
from catalog.settings import CatalogSettings
from catalog.variable.items import value_context
from catalog.webhooks.service import secret_context
from slipway.crypto import CryptoError, Keyring, keyring_from
from slipway.db import Database

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class Target:
    """One ciphertext column (or JSON key) of the catalog, with the context its values are bound to."""

    label: str
    model: Any
    read: Callable[[Any], str | None]
    write: Callable[[Any, str], None]
    context: Callable[[Any], str]
    where: Any = None


def _attribute(name: str) -> tuple[Callable[[Any], str | None], Callable[[Any, str], None]]:
    return (lambda row: getattr(row, name)), (lambda row, value: setattr(row, name, value))


def _set_password(row: Service, value: str) -> None:
    row.config = {**row.config, "password_encrypted": value}  # a new dict: the JSONB column is written


TARGETS = [
    Target("clusters.kubeconfig_encrypted", Cluster, *_attribute("kubeconfig_encrypted"), _kubeconfig_context),
    Target("container_registries.config_encrypted", ContainerRegistry, *_attribute("config_encrypted"),
           registry_context),
    Target("git_tokens.token_encrypted", GitToken, *_attribute("token_encrypted"), git_token_context),
    Target("variables.value_encrypted", Variable, *_attribute("value_encrypted"), lambda row: value_context(row.id),
           Variable.value_encrypted.is_not(None)),
    Target("services.config.password_encrypted", Service, lambda row: (row.config or {}).get("password_encrypted"),
           _set_password, lambda row: password_context(row.id), Service.kind == "DATABASE"),
    Target("tombstones.state_encrypted", Tombstone, *_attribute("state_encrypted"), lambda row: f"tombstone:{row.id}"),
    Target("git_webhook_secrets.secret_encrypted", GitWebhookSecret, *_attribute("secret_encrypted"), secret_context),
    Target("job_outputs.value_encrypted", JobOutput, *_attribute("value_encrypted"),
           lambda row: output_context(row.job_id, row.key), JobOutput.value_encrypted.is_not(None)),
]  # fmt: skip


@dataclass
class Counts:
    scanned: int = 0
    rotated: int = 0
    current: int = 0  # already under the first key
    failed: int = 0

    def line(self) -> str:
        return (
            f"{self.scanned} scanned, {self.rotated} re-encrypted, {self.current} already current, {self.failed} failed"
        )


async def _batch(
    session: AsyncSession, target: Target, after: uuid.UUID | None, size: int, keys: Keyring, dry_run: bool,
    counts: Counts, out: TextIO,
) -> uuid.UUID | None:  # fmt: skip
    """Rotate one batch; the last id seen, None when the table is done."""
    query = select(target.model).order_by(target.model.id).limit(size).with_for_update()
    if target.where is not None:
        query = query.where(target.where)
    if after is not None:
        query = query.where(target.model.id > after)
    rows = list((await session.execute(query)).scalars())
    for row in rows:
        value = target.read(row)
        if not value:
            continue
        counts.scanned += 1
        try:
            if not keys.needs_rotation(value):
                counts.current += 1
                continue
            fresh = keys.reencrypt(value, target.context(row))
        except CryptoError as exc:
            counts.failed += 1
            print(f"  {target.label} {row.id}: cannot decrypt ({exc})", file=out)
            continue
        counts.rotated += 1
        if not dry_run:
            target.write(row, fresh)
    return rows[-1].id if len(rows) == size else None


async def rotate(
    db: Database, keys: Keyring, *, batch_size: int = DEFAULT_BATCH, dry_run: bool = False, out: TextIO | None = None
) -> dict[str, Counts]:
    """Re-encrypt every catalog ciphertext not under the ring's first key; counts per column (progress on `out`)."""
    out = out if out is not None else sys.stdout
    print(f"re-encrypting under key {keys.primary_kid} (ring: {', '.join(keys.key_ids)})"
          + (" [dry run: nothing is written]" if dry_run else ""), file=out)  # fmt: skip
    found: dict[str, Counts] = {}
    for target in TARGETS:
        counts = found[target.label] = Counts()
        after: uuid.UUID | None = None
        while True:
            async with db.transaction() as session:
                after = await _batch(session, target, after, batch_size, keys, dry_run, counts, out)
            print(f"{target.label}: {counts.line()}", file=out)
            if after is None:
                break
    total = Counts(*(sum(getattr(c, f) for c in found.values()) for f in ("scanned", "rotated", "current", "failed")))
    print(f"total: {total.line()}", file=out)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog.rotate", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="rows per transaction")
    parser.add_argument("--dry-run", action="store_true", help="count what would be re-encrypted, write nothing")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    settings = CatalogSettings()

    async def _run() -> dict[str, Counts]:
        db = Database(settings.database_url, pool_size=1)
        try:
            return await rotate(db, keyring_from(settings), batch_size=args.batch_size, dry_run=args.dry_run)
        finally:
            await db.dispose()

    found = asyncio.run(_run())
    return 1 if any(c.failed for c in found.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
