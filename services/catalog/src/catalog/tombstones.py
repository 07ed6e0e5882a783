"""The last desired state of what is being deleted, sealed for the deployer's uninstall (ON_DELETE jobs first)."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Tombstone
from slipway.crypto import CryptoError, Keyring
from slipway.desired import DesiredState
from slipway.errors import Conflict, SlipwayError

log = logging.getLogger("catalog.tombstones")


def _context(tombstone_id: uuid.UUID) -> str:
    return f"tombstone:{tombstone_id}"


async def bury(
    session: AsyncSession, environment_id: uuid.UUID, keys: Keyring, service_id: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Seal what the environment (or only `service_id` of it) runs before its rows go; the tombstone's id.

    None when the state cannot be read (a secret no key decrypts, a vanished cluster): the deployer then
    removes the workloads directly, without lifecycle jobs, rather than blocking the deletion."""
    from catalog.snapshot.build import desired_state  # the snapshot imports every service kind: not at load

    try:
        state = await desired_state(session, environment_id, keys)
    except SlipwayError as exc:
        log.warning("no tombstone for %s: %s", service_id or environment_id, exc.detail)
        return None
    if service_id is not None:
        wanted = str(service_id)
        state.services = [s for s in state.services if s.id == wanted]
        for stage in state.stages:
            stage.service_ids = [i for i in stage.service_ids if i == wanted]
        state.seal()
    tombstone_id = service_id or environment_id
    existing = await session.get(Tombstone, tombstone_id)
    if existing is not None:
        await session.delete(existing)
        await session.flush()
    session.add(
        Tombstone(
            id=tombstone_id,
            organization_id=uuid.UUID(state.organization_id),
            environment_id=environment_id,
            service_id=service_id,
            state_encrypted=keys.encrypt(state.model_dump_json(), _context(tombstone_id)),
        )
    )
    await session.flush()
    return tombstone_id


async def read(session: AsyncSession, tombstone_id: uuid.UUID, keys: Keyring) -> DesiredState | None:
    row = await session.get(Tombstone, tombstone_id)
    if row is None:
        return None
    try:
        return DesiredState.model_validate_json(keys.decrypt(row.state_encrypted, _context(tombstone_id)))
    except CryptoError:
        raise Conflict(
            "this deletion's state cannot be decrypted with the configured encryption keys "
            "(SLIPWAY_ENCRYPTION_KEYS): restore the key it was encrypted with"
        ) from None


async def drop(session: AsyncSession, tombstone_id: uuid.UUID) -> None:
    row = await session.get(Tombstone, tombstone_id)
    if row is not None:
        await session.delete(row)
