"""Job outputs: what a job's run reports becomes QOVERY_OUTPUT_JOB_Z…_<KEY> for every service of its environment
(sensitive values as secrets, encrypted at rest, decrypted only into the desired state); a run replaces the job's
outputs; they go with the job; other environments never see them; a bad report is refused whole."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from .test_clone_services import build_world
from .test_clusters import Catalog, catalog  # noqa: F401  (fixture)
from .test_desired_state import deployer, snapshot


async def report(cat: Catalog, job_id: str, outputs: dict[str, Any], execution: str = "e-1") -> httpx.Response:
    async with httpx.AsyncClient(base_url=cat.url, timeout=30) as client:
        return await client.put(
            f"/internal/job/{job_id}/outputs", json={"execution_id": execution, "outputs": outputs}, headers=deployer()
        )


async def listed(cat: Catalog, parent: str, scope: str) -> dict[str, dict[str, Any]]:
    r = await cat.api.get("/variable", params={"parent_id": parent, "scope": scope})
    assert r.status_code == 200, r.text
    return {v["key"]: v for v in r.json()["results"] if v["key"].startswith("QOVERY_OUTPUT_JOB_")}


async def test_outputs_become_variables_of_the_environment(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    head = f"QOVERY_OUTPUT_JOB_Z{w.job.replace('-', '')[:8].upper()}"
    outputs = {"SEEDED": {"value": "42", "sensitive": False}, "API_KEY": {"value": "k-s3cret", "sensitive": True}}
    assert (await report(catalog, w.job, outputs)).status_code == 204

    seen = await listed(catalog, w.app, "APPLICATION")
    assert set(seen) == {f"{head}_SEEDED", f"{head}_API_KEY"}
    assert seen[f"{head}_SEEDED"]["value"] == "42" and seen[f"{head}_SEEDED"]["variable_type"] == "BUILT_IN"
    assert seen[f"{head}_API_KEY"]["is_secret"] and seen[f"{head}_API_KEY"]["value"] is None
    assert set(await listed(catalog, w.environment, "ENVIRONMENT")) == set(seen)
    # an alias of one, as of any built-in
    body = {"key": "SEEDED_COUNT", "alias_scope": "APPLICATION", "alias_parent_id": w.app}
    alias = await catalog.api.post(f"/variable/{seen[f'{head}_SEEDED']['id']}/alias", json=body)
    assert alias.status_code == 201, alias.text

    state = await snapshot(catalog, w.environment)
    api = state.service(w.app)
    assert api is not None and api.env[f"{head}_SEEDED"] == "42" and api.env[f"{head}_API_KEY"] == "k-s3cret"
    assert api.env["SEEDED_COUNT"] == "42"
    assert f"{head}_API_KEY" in api.secret_keys and f"{head}_SEEDED" not in api.secret_keys
    db = state.service(w.db)
    assert db is not None and not any(k.startswith("QOVERY_OUTPUT_JOB_") for k in db.env)
    async with catalog.app.state.db.transaction() as session:
        stored = (await session.execute(text("SELECT value, value_encrypted FROM catalog.job_outputs"))).all()
    assert all("k-s3cret" not in str(row) for row in stored), "sensitive values are stored encrypted"

    # the next run's report is the whole truth: a key it no longer writes goes
    assert (await report(catalog, w.job, {"SEEDED": {"value": "43"}}, "e-2")).status_code == 204
    seen = await listed(catalog, w.app, "APPLICATION")
    assert {k: v["value"] for k, v in seen.items()} == {f"{head}_SEEDED": "43"}

    # another organization's environment sees nothing of them
    other = await build_world(catalog)
    assert await listed(catalog, other.app, "APPLICATION") == {}

    # they go with the job
    assert (await catalog.api.delete(f"/job/{w.job}")).status_code == 204
    assert await listed(catalog, w.app, "APPLICATION") == {}


async def test_a_bad_report_is_refused_whole(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    assert (await report(catalog, w.job, {"KEEP": {"value": "1"}})).status_code == 204
    for outputs, reason in (
        ({"A-B": {"value": "x"}}, "is not a variable name"),
        ({"A": {"value": 3}}, 'A must be {"value": "<string>"'),
        ({"OK": {"value": "y"}, "A": {"value": "x", "sensitive": "no"}}, "A.sensitive must be true or false"),
    ):
        r = await report(catalog, w.job, outputs)
        assert r.status_code == 400 and reason in r.json()["detail"], r.text
    assert set(await listed(catalog, w.app, "APPLICATION")) == {
        f"QOVERY_OUTPUT_JOB_Z{w.job.replace('-', '')[:8].upper()}_KEEP"
    }, "nothing of a refused report was written"
    assert (await report(catalog, w.app, {"A": {"value": "x"}})).status_code == 404, "an application has no outputs"
    assert (await report(catalog, str(uuid.uuid4()), {})).status_code == 404
    async with httpx.AsyncClient(base_url=catalog.url, timeout=30) as client:
        r = await client.put(f"/internal/job/{w.job}/outputs", json={"execution_id": "x", "outputs": {}})
    assert r.status_code == 401, "the deployer's principal only"
