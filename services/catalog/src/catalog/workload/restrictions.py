"""Qovery's deployment restrictions: MATCH/EXCLUDE path rules that decide whether a push auto-deploys a service.

Stored in the service's `config` under `deployment_restrictions` (a list of `{id, mode, type, value, created_at,
updated_at}`, in creation order; the key is absent while there are none), read by the Git webhooks through
`allows()`, a pure function of the rules and the paths a push touched:

- no rules, or a provider that does not list the changed paths (`changed is None`): deploy;
- EXCLUDE: a push whose changed paths are all under excluded prefixes does not deploy;
- MATCH: deploy only if a changed path that is not excluded is under a matched prefix (any MATCH rule will do).

A value is a path prefix matched on whole segments (`src` and `src/` cover `src` and `src/a.py`, not
`srcs/a.py`); a leading `/` is ignored, and a trailing `*` matches on characters instead (`docs*` covers
`docs.md` and `docs/a`), as Qovery's documentation suggests for prefixes of names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Service
from slipway.errors import BadRequest, Conflict, NotFound
from slipway.timeutil import rfc3339, utcnow

KEY = "deployment_restrictions"
MAX_VALUE = 255
MAX_PER_SERVICE = 100

Mode = Literal["EXCLUDE", "MATCH"]
Kind = Literal["PATH"]


class DeploymentRestrictionRequest(BaseModel):
    """Qovery's ApplicationDeploymentRestrictionRequest and JobDeploymentRestrictionRequest (the same shape)."""

    mode: Mode
    type: Kind
    value: str


class DeploymentRestriction(BaseModel):
    """Qovery's ApplicationDeploymentRestriction and JobDeploymentRestrictionResponse: Base plus the request."""

    id: str
    created_at: str
    updated_at: str
    mode: Mode
    type: Kind
    value: str


class DeploymentRestrictionList(BaseModel):
    results: list[DeploymentRestriction]


# -- the decision ---------------------------------------------------------------------------------------------


def covers(value: str, path: str) -> bool:
    """Whether the restriction value `value` covers the changed path `path`."""
    prefix, name = value.lstrip("/"), path.lstrip("/")
    if prefix.endswith("*"):
        return name.startswith(prefix[:-1])
    prefix = prefix.rstrip("/")
    return name == prefix or name.startswith(prefix + "/")


def allows(restrictions: Iterable[Mapping[str, Any]], changed: Sequence[str] | None) -> bool:
    """Whether a push that touched `changed` (None: the provider did not say) deploys a service with these rules."""
    rules = [r for r in restrictions if r.get("type") == "PATH"]
    if not rules or changed is None:
        return True
    excluded = [str(r["value"]) for r in rules if r.get("mode") == "EXCLUDE"]
    matched = [str(r["value"]) for r in rules if r.get("mode") == "MATCH"]
    kept = [path for path in changed if not any(covers(value, path) for value in excluded)]
    if excluded and changed and not kept:
        return False  # the push touched only excluded paths
    if matched:
        return any(covers(value, path) for path in kept for value in matched)
    return True


def of(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The restrictions stored in a service's configuration."""
    return list(config.get(KEY) or [])


def carried(previous: Mapping[str, Any]) -> dict[str, Any]:
    """What a service's edit keeps of its previous configuration: its restrictions (the edit body never has them)."""
    return {KEY: previous[KEY]} if previous.get(KEY) else {}


# -- validation and storage -----------------------------------------------------------------------------------


def check_value(value: str) -> str:
    """A path prefix: 1-255 printable characters, relative (a leading `/` is tolerated), no `.`/`..`/empty segment."""
    if not value:
        raise BadRequest("value: a path is required")
    if len(value) > MAX_VALUE:
        raise BadRequest(f"value: at most {MAX_VALUE} characters")
    if not value.isprintable():
        raise BadRequest("value: only printable characters")
    body = value.removeprefix("/").removesuffix("/")
    if not body:
        raise BadRequest("value: names no path (the repository's root is every path: remove the restriction)")
    if "*" in body[:-1]:
        raise BadRequest("value: wildcards are not supported (only a trailing * to match names by their start)")
    if any(part in ("", ".", "..") for part in body.split("/")):
        raise BadRequest("value: a relative path without empty, '.' or '..' segments")
    return value


def _identity(item: Mapping[str, Any]) -> tuple[str, str, str]:
    """What makes two restrictions the same rule (`/src/`, `src/` and `src` decide alike)."""
    value = str(item["value"]).removeprefix("/")
    return str(item["mode"]), str(item["type"]), value if value.endswith("*") else value.removesuffix("/")


def render(item: Mapping[str, Any]) -> DeploymentRestriction:
    return DeploymentRestriction.model_validate(dict(item))


def listing(svc: Service) -> DeploymentRestrictionList:
    return DeploymentRestrictionList(results=[render(r) for r in of(svc.config)])


async def lock(session: AsyncSession, svc: Service) -> None:
    """Re-read the service's row and lock it for the transaction: the writers of one service's `config` (these
    routes, the service's edit) queue up, so a duplicate is always seen and no one's write is lost."""
    await session.refresh(svc, with_for_update=True)


async def _locked(session: AsyncSession, svc: Service) -> list[dict[str, Any]]:
    await lock(session, svc)
    return of(svc.config)


async def _store(session: AsyncSession, svc: Service, items: list[dict[str, Any]]) -> None:
    config = {key: value for key, value in svc.config.items() if key != KEY}
    svc.config = {**config, KEY: items} if items else config
    await session.flush()


def _find(items: list[dict[str, Any]], restriction_id: uuid.UUID) -> int:
    for index, item in enumerate(items):
        if item["id"] == str(restriction_id):
            return index
    raise NotFound("deployment restriction not found")


async def create(session: AsyncSession, svc: Service, body: DeploymentRestrictionRequest) -> DeploymentRestriction:
    """A new rule (409 when the service has the same one already). The service itself is unchanged: no event."""
    value = check_value(body.value)
    items = await _locked(session, svc)
    rule = {"mode": body.mode, "type": body.type, "value": value}
    if any(_identity(item) == _identity(rule) for item in items):
        raise Conflict(f"a {body.mode} {body.type} restriction on {value!r} already exists for this service")
    if len(items) >= MAX_PER_SERVICE:
        raise BadRequest(f"value: at most {MAX_PER_SERVICE} deployment restrictions per service")
    now = rfc3339(utcnow())
    item = {"id": str(uuid.uuid4()), **rule, "created_at": now, "updated_at": now}
    await _store(session, svc, [*items, item])
    return render(item)


async def edit(
    session: AsyncSession, svc: Service, restriction_id: uuid.UUID, body: DeploymentRestrictionRequest
) -> DeploymentRestriction:
    """The rule replaced whole; becoming the same as another of the service's rules is a 400 (the spec has no 409)."""
    value = check_value(body.value)
    items = await _locked(session, svc)
    index = _find(items, restriction_id)
    rule = {"mode": body.mode, "type": body.type, "value": value}
    if any(_identity(item) == _identity(rule) for i, item in enumerate(items) if i != index):
        raise BadRequest(f"value: a {body.mode} {body.type} restriction on {value!r} already exists for this service")
    item = {**items[index], **rule, "updated_at": rfc3339(utcnow())}
    items[index] = item
    await _store(session, svc, items)
    return render(item)


async def delete(session: AsyncSession, svc: Service, restriction_id: uuid.UUID) -> None:
    items = await _locked(session, svc)
    del items[_find(items, restriction_id)]
    await _store(session, svc, items)
