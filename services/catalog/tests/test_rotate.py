"""`python -m catalog.rotate`: every catalog ciphertext re-encrypted under a new first key, idempotently."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from catalog import rotate
from catalog.database.service import master_password
from catalog.models import Base, Cluster, ContainerRegistry, GitToken, GitWebhookSecret, JobOutput, Service, Variable
from catalog.registry.service import stored_config
from catalog.variable.resolve import resolve_service
from slipway.crypto import Keyring, generate_key, key_id, keyring_from, parse_keys

from .test_clone_services import GIT_TOKEN, World, build_world
from .test_clusters import KUBECONFIG, ON_PREMISE, Catalog, catalog  # noqa: F401  (fixture)
from .test_job_outputs import report

HUB = {"name": "Hub", "kind": "DOCKER_HUB", "config": {"username": "hub-user", "password": "hub-s3cr3t"}}


async def _secrets(cat: Catalog) -> World:
    """A world (Git token, secret variables, a database) plus a registry with credentials and a kubeconfig."""
    w = await build_world(cat)
    r = await cat.api.post(f"/organization/{w.organization}/containerRegistry", json=HUB)
    assert r.status_code == 201, r.text
    cluster = (await cat.api.post(f"/organization/{w.organization}/cluster", json=ON_PREMISE)).json()
    r = await cat.api.put(
        f"/organization/{w.organization}/cluster/{cluster['id']}/kubeconfig",
        content=KUBECONFIG,
        headers={"content-type": "application/x-yaml"},
    )
    assert r.status_code == 204, r.text
    assert (await cat.api.get(f"/slipway/organization/{w.organization}/gitWebhook")).status_code == 200  # 3 secrets
    outputs = {"TOKEN": {"value": "out-s3cret", "sensitive": True}, "COUNT": {"value": "1"}}
    assert (await report(cat, w.job, outputs)).status_code == 204  # one sensitive job output
    return w


async def _ciphertexts(cat: Catalog) -> list[str]:
    """Every ciphertext of the catalog, as stored."""
    async with cat.app.state.db.transaction() as session:
        found = [
            *(await session.scalars(select(Cluster.kubeconfig_encrypted))),
            *(await session.scalars(select(ContainerRegistry.config_encrypted))),
            *(await session.scalars(select(GitToken.token_encrypted))),
            *(await session.scalars(select(Variable.value_encrypted))),
            *((s.config or {}).get("password_encrypted") for s in await session.scalars(select(Service))),
            *(await session.scalars(select(GitWebhookSecret.secret_encrypted))),
            *(await session.scalars(select(JobOutput.value_encrypted))),
        ]
    return [c for c in found if c]


async def _plaintexts(cat: Catalog, w: World, keys: Keyring) -> dict[str, Any]:
    """What the secrets decrypt to with `keys` (through catalog's own readers)."""
    async with cat.app.state.db.transaction() as session:
        clusters = [keys.decrypt(c.kubeconfig_encrypted, f"cluster:{c.id}:kubeconfig")
                    for c in await session.scalars(select(Cluster)) if c.kubeconfig_encrypted]  # fmt: skip
        registries = [stored_config(r, keys) for r in await session.scalars(select(ContainerRegistry))]
        tokens = [
            keys.decrypt(t.token_encrypted, f"git_token:{t.id}:token") for t in await session.scalars(select(GitToken))
        ]
        db = await session.get(Service, uuid.UUID(w.db))
        app = await session.get(Service, uuid.UUID(w.app))
        web = await session.get(Service, uuid.UUID(w.web))
        assert db is not None and app is not None and web is not None
        api_env, web_env = (
            (await resolve_service(session, app, keys)).env,
            (await resolve_service(session, web, keys)).env,
        )
        hooks = sorted(
            keys.decrypt(h.secret_encrypted, f"git_webhook:{h.organization_id}:{h.provider}")
            for h in await session.scalars(select(GitWebhookSecret))
        )
        return {
            "webhooks": hooks,
            "kubeconfigs": clusters,
            "registries": [r for r in registries if r],
            "tokens": tokens,
            "password": master_password(db, keys),
            "api": {
                k: v for k, v in api_env.items() if k in ("API_TOKEN", "ENV_SECRET", "DATABASE_URL") or "OUTPUT" in k
            },
            "web": {k: web_env[k] for k in ("ENV_SECRET", "SECRET_ALIAS")},
        }


def test_every_ciphertext_column_is_rotated() -> None:
    """A new `*_encrypted` column must join rotate.TARGETS (with its context) or this fails."""
    columns = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    labels = {t.label for t in rotate.TARGETS}
    assert columns == labels - {"services.config.password_encrypted"}


async def test_rotation_moves_everything_to_the_new_key(catalog: Catalog) -> None:  # noqa: F811
    w = await _secrets(catalog)
    old = keyring_from(catalog.settings)
    before = await _plaintexts(catalog, w, old)
    assert before["tokens"] == [GIT_TOKEN] and before["kubeconfigs"] == [KUBECONFIG]
    assert before["registries"] == [HUB["config"]] and before["api"]["API_TOKEN"] == "a-s3cret"
    new_key = generate_key()
    new_only = Keyring.from_value(new_key)
    ring = Keyring([*parse_keys(new_key), *(k for k in _keys(catalog))])
    stored = await _ciphertexts(catalog)
    assert len(stored) == 11 and not any(c.split(".")[1] == new_only.primary_kid for c in stored)

    # a dry run counts and writes nothing
    out = io.StringIO()
    counted = await rotate.rotate(catalog.app.state.db, ring, batch_size=2, dry_run=True, out=out)
    assert sum(c.rotated for c in counted.values()) == 11 and await _ciphertexts(catalog) == stored
    assert "dry run" in out.getvalue()

    out = io.StringIO()
    found = await rotate.rotate(catalog.app.state.db, ring, batch_size=2, out=out)
    assert {label: (c.rotated, c.failed) for label, c in found.items()} == {
        "clusters.kubeconfig_encrypted": (1, 0),
        "container_registries.config_encrypted": (1, 0),
        "git_tokens.token_encrypted": (1, 0),
        "variables.value_encrypted": (3, 0),
        "services.config.password_encrypted": (1, 0),
        "tombstones.state_encrypted": (0, 0),
        "git_webhook_secrets.secret_encrypted": (3, 0),
        "job_outputs.value_encrypted": (1, 0),
    }
    report = out.getvalue()
    assert "variables.value_encrypted: 2 scanned" in report  # progress, batch by batch
    assert "total: 11 scanned, 11 re-encrypted, 0 already current, 0 failed" in report
    for secret in (GIT_TOKEN, "a-s3cret", "hub-s3cr3t", "out-s3cret", before["password"]):
        assert secret not in report

    # the new key alone decrypts everything, to the same values
    assert all(c.split(".")[1] == new_only.primary_kid for c in await _ciphertexts(catalog))
    assert await _plaintexts(catalog, w, new_only) == before
    # idempotent: a second run finds nothing to do
    again = await rotate.rotate(catalog.app.state.db, ring, batch_size=3, out=io.StringIO())
    assert sum(c.rotated for c in again.values()) == 0 and sum(c.current for c in again.values()) == 11


async def test_the_command_reports_values_it_cannot_decrypt(
    catalog: Catalog,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = await _secrets(catalog)
    broken = uuid.UUID(w.variables["app_secret"]["id"])
    async with catalog.app.state.db.transaction() as session:  # a ciphertext moved to another row
        row = await session.get(Variable, broken)
        assert row is not None
        row.value_encrypted = keyring_from(catalog.settings).encrypt("x", "variable:elsewhere:value")
    new_key = generate_key()
    old_value = ",".join(_encoded(catalog))
    monkeypatch.setenv("DATABASE_URL", catalog.settings.database_url)
    monkeypatch.setenv("SLIPWAY_ENCRYPTION_KEYS", f"{new_key},{old_value}")
    status = await asyncio.to_thread(rotate.main, ["--batch-size", "1"])
    output = capsys.readouterr().out
    assert status == 1
    assert f"variables.value_encrypted {broken}: cannot decrypt" in output
    assert "total: 11 scanned, 10 re-encrypted, 0 already current, 1 failed" in output
    # the rest was rotated; a second run only reports the broken value again
    assert await asyncio.to_thread(rotate.main, []) == 1
    assert "total: 11 scanned, 0 re-encrypted, 10 already current, 1 failed" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        rotate.main(["--batch-size", "0"])


def _encoded(cat: Catalog) -> list[str]:
    return [k.strip() for k in cat.settings.encryption_keys.get_secret_value().split(",")]


def _keys(cat: Catalog) -> list[bytes]:
    keys = parse_keys(",".join(_encoded(cat)))
    assert [key_id(k) for k in keys] == keyring_from(cat.settings).key_ids
    return keys
