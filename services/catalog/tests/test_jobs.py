"""Job services on the catalog app itself: Qovery's codes and schemas, sources, cron and lifecycle schedules."""

from __future__ import annotations

import uuid
from typing import Any

from slipway_stack.qovery_spec import check

from .test_applications import _config, _token
from .test_applications import app as application_body
from .test_clusters import Catalog, bad, catalog  # noqa: F401  (fixture)
from .test_containers import _environment, _events

CRON = {"cronjob": {"scheduled_at": "*/5  * * * MON-FRI", "timezone": "Europe/Paris", "arguments": ["--once"]}}
REPO = {"url": "file:///srv/git/jobs.git", "branch": "main", "root_path": "/", "provider": "GITLAB"}
CONFIG_KEYS = {
    "job_type",
    "source",
    "git_commit_id",
    "schedule",
    "cpu",
    "memory",
    "max_nb_restart",
    "max_duration_seconds",
    "port",
    "healthchecks",
    "auto_preview",
    "auto_deploy",
    "host_slug",
}


def image(registry: str) -> dict[str, Any]:
    return {"image": {"image_name": "busybox", "tag": "1.36", "registry_id": registry}}


def job(
    source: dict[str, Any], name: str = "nightly", schedule: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "source": source, "schedule": schedule or CRON, "healthchecks": {}, **extra}


async def test_cron_job_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    base = f"/environment/{eid}/job"
    health = {"liveness_probe": {"type": {"tcp": {"port": 8080}}}}
    request = job(
        image(registry), description="reports", port=8080, healthchecks=health, cpu=250, memory=256, max_nb_restart=2
    )
    created = check(spec, "createJob", await catalog.api.post(base, json=request))
    jid = created["id"]
    assert created["job_type"] == "CRON" and created["service_type"] == "JOB" and created["environment"]["id"] == eid
    assert created["schedule"] == {
        "cronjob": {"scheduled_at": "*/5 * * * MON-FRI", "timezone": "Europe/Paris", "arguments": ["--once"]}
    }
    source = created["source"]
    assert set(source) == {"image"} and source["image"]["registry"]["id"] == registry
    assert (source["image"]["image_name"], source["image"]["tag"]) == ("busybox", "1.36")
    assert (created["cpu"], created["memory"], created["gpu"], created["port"]) == (250, 256, 0, 8080)
    assert (created["max_nb_restart"], created["max_duration_seconds"]) == (2, 300)
    assert (created["maximum_cpu"], created["maximum_memory"], created["maximum_gpu"]) == (16_000, 16_384, 0)
    assert created["description"] == "reports" and created["auto_preview"] is False

    config = await _config(catalog, jid)
    assert set(config) == CONFIG_KEYS
    assert config["job_type"] == "CRON" and config["git_commit_id"] is None
    assert config["source"] == {"image": {"image_name": "busybox", "tag": "1.36", "registry_id": registry}}
    assert config["schedule"] == {
        "cronjob": {
            "scheduled_at": "*/5 * * * MON-FRI",
            "timezone": "Europe/Paris",
            "arguments": ["--once"],
            "entrypoint": None,
        }
    }
    assert config["host_slug"].startswith("nightly-")

    listed = check(spec, "listJobs", await catalog.api.get(base))
    assert [j["id"] for j in listed["results"]] == [jid]
    assert check(spec, "listJobs", await catalog.api.get(f"{base}?toUpdate=false"))["results"] == listed["results"]
    got = check(spec, "getJob", await catalog.api.get(f"/job/{jid}"))
    assert got == created

    # omitted keys keep their value; source and schedule, when sent, are replaced whole
    edited = check(
        spec,
        "editJob",
        await catalog.api.put(f"/job/{jid}", json={"name": "Nightly", "healthchecks": health, "max_nb_restart": 5}),
    )
    assert edited["name"] == "Nightly" and edited["max_nb_restart"] == 5
    kept = ("schedule", "source", "port", "cpu", "memory", "description")
    assert {k: edited[k] for k in kept} == {k: created[k] for k in kept}
    r = await catalog.api.put(
        f"/job/{jid}",
        json={"name": "Nightly", "healthchecks": {}, "schedule": {"cronjob": {"scheduled_at": "0 3 * * *"}}},
    )
    rescheduled = check(spec, "editJob", r)
    assert rescheduled["schedule"]["cronjob"] == {"scheduled_at": "0 3 * * *", "timezone": "Etc/UTC", "arguments": []}
    assert (await _config(catalog, jid))["host_slug"] == config["host_slug"]

    events = await _events(catalog, jid)
    assert [s for s, _ in events] == ["evt.catalog.service.created"] + ["evt.catalog.service.updated"] * 2
    assert all(payload == {"service_id": jid, "environment_id": eid, "kind": "JOB"} for _, payload in events)

    check(spec, "deleteJob", await catalog.api.delete(f"/job/{jid}"))
    assert (await catalog.api.get(f"/job/{jid}")).status_code == 404
    assert (await catalog.api.delete(f"/job/{jid}")).status_code == 404
    assert (await catalog.api.get(base)).json()["results"] == []
    assert [s for s, _ in await _events(catalog, jid)][-1] == "evt.catalog.service.deleted"


async def test_lifecycle_job_built_from_git(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, registry, org = await _environment(catalog)
    base = f"/environment/{eid}/job"
    token = await _token(catalog, org, "GITLAB", "glpat-job-secret")
    https = {**REPO, "url": "https://gitlab.example.com/ops/migrate.git", "git_token_id": token}
    schedule = {"on_start": {"arguments": ["migrate", "up"]}, "on_delete": {"entrypoint": "/bin/cleanup"}}
    docker = {"docker": {"git_repository": https, "dockerfile_path": "ops/Dockerfile"}}
    created = check(spec, "createJob", await catalog.api.post(base, json=job(docker, "migrate", schedule)))
    jid = created["id"]
    assert created["job_type"] == "LIFECYCLE"
    assert created["schedule"] == {
        "lifecycle_type": "GENERIC",
        "on_start": {"arguments": ["migrate", "up"]},
        "on_delete": {"arguments": [], "entrypoint": "/bin/cleanup"},
    }
    repo = created["source"]["docker"]["git_repository"]
    assert (repo["url"], repo["owner"], repo["name"], repo["git_token_id"]) == (https["url"], "ops", "migrate", token)
    assert created["source"]["docker"]["dockerfile_path"] == "ops/Dockerfile" and "image" not in created["source"]
    config = await _config(catalog, jid)
    assert config["source"] == {
        "docker": {
            "git_repository": {
                "url": https["url"],
                "branch": "main",
                "root_path": "/",
                "provider": "GITLAB",
                "git_token_id": token,
            },
            "dockerfile_path": "ops/Dockerfile",
        }
    }
    assert config["job_type"] == "LIFECYCLE" and set(config["schedule"]) == {"lifecycle_type", "on_start", "on_delete"}
    assert check(spec, "getJob", await catalog.api.get(f"/job/{jid}")) == created

    # a lifecycle job stays one; its source may change
    r = await catalog.api.put(f"/job/{jid}", json={"name": "migrate", "healthchecks": {}, "schedule": CRON})
    bad(r, "schedule")
    switched = check(
        spec,
        "editJob",
        await catalog.api.put(f"/job/{jid}", json={"name": "migrate", "healthchecks": {}, "source": image(registry)}),
    )
    assert set(switched["source"]) == {"image"} and switched["schedule"] == created["schedule"]

    local = job({"docker": {"git_repository": REPO}}, "local", {"on_stop": {}, "lifecycle_type": "TERRAFORM"})
    created = check(spec, "createJob", await catalog.api.post(base, json=local))
    assert created["source"]["docker"]["dockerfile_path"] == "Dockerfile"
    assert created["schedule"] == {"lifecycle_type": "TERRAFORM", "on_stop": {"arguments": []}}


async def test_job_input_is_validated_and_nothing_is_written(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, org = await _environment(catalog)
    _, foreign_registry, _ = await _environment(catalog)
    base = f"/environment/{eid}/job"
    source = image(registry)
    crons = [
        "* * * *",
        "* * * * * *",
        "@daily",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "*/61 * * * *",
        "5-1 * * * *",
        "1-2-3 * * * *",
        "1,,2 * * * *",
        "* * * FOO *",
        "MON * * * *",
        "L * * * *",
        "? * * * *",
        "* * * * MON-",
    ]
    for expression in crons:
        bad(
            await catalog.api.post(base, json=job(source, schedule={"cronjob": {"scheduled_at": expression}})),
            "scheduled_at",
        )
    for zone in ("Mars/Olympus", "Europe", "../../etc/passwd", "", "utc"):
        cron = {"cronjob": {"scheduled_at": "0 * * * *", "timezone": zone}}
        bad(await catalog.api.post(base, json=job(source, schedule=cron)), "timezone")
    foreign_token = await _token(catalog, str(uuid.uuid4()), "GITLAB")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"source": {}}, "source"),
        ({"source": {"image": None, "docker": None}}, "source"),
        ({"source": {**source, "docker": {"git_repository": REPO}}}, "source"),
        ({"source": {"image": {"image_name": "busybox", "registry_id": registry}}}, "tag"),
        ({"source": image(foreign_registry)}, "source.image.registry_id"),
        (
            {"source": {"docker": {"git_repository": {**REPO, "url": "http://x.org/a/b"}}}},
            "source.docker.git_repository.url",
        ),
        ({"source": {"docker": {"git_repository": {**REPO, "provider": "GITEA"}}}}, "provider"),
        (
            {
                "source": {
                    "docker": {"git_repository": {**REPO, "url": "https://x.org/a/b", "git_token_id": foreign_token}}
                }
            },
            "source.docker.git_repository.git_token_id",
        ),
        ({"source": {"docker": {"git_repository": REPO, "dockerfile_path": "../Dockerfile"}}}, "dockerfile_path"),
        ({"source": {"docker": {"git_repository": REPO, "dockerfile_raw": "FROM busybox"}}}, "dockerfile_raw"),
        ({"schedule": {}}, "schedule"),
        ({"schedule": {"lifecycle_type": "GENERIC"}}, "schedule"),
        ({"schedule": {"on_start": {}, "lifecycle_type": "ANSIBLE"}}, "lifecycle_type"),
        ({"schedule": {**CRON, "on_start": {}}}, "schedule.on_start"),
        ({"schedule": {"cronjob": {"timezone": "UTC"}}}, "scheduled_at"),
        ({"port": 8080, "healthchecks": {"readiness_probe": {"type": {"http": {"port": 9090}}}}}, "readiness_probe"),
        ({"healthchecks": {"liveness_probe": {"type": {"tcp": {}}}}}, "liveness_probe"),
        ({"port": 0}, "port"),
        ({"gpu": 1}, "gpu"),
        ({"cpu": 0}, "cpu"),
        ({"max_nb_restart": -1}, "max_nb_restart"),
        ({"max_duration_seconds": 0}, "max_duration_seconds"),
        ({"source": {"image": {**source["image"], "image_name": "UPPER CASE!!"}}}, "image_name"),
        ({"source": {"image": {**source["image"], "tag": "y y"}}}, "tag"),
    ]
    for change, field in cases:
        bad(await catalog.api.post(base, json={**job(source), **change}), field)
    for missing in ("name", "source", "schedule", "healthchecks"):
        incomplete = job(source)
        del incomplete[missing]
        bad(await catalog.api.post(base, json=incomplete), missing)
    assert (await catalog.api.get(base)).json()["results"] == []

    # exec probes need no port; a probe on the job's port is fine
    ok = {"readiness_probe": {"type": {"exec": {"command": ["true"]}}}, "liveness_probe": {"type": {"tcp": {}}}}
    r = await catalog.api.post(base, json=job(source, port=8080, healthchecks=ok))
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    for expression in ("0 9-17/2 1,15 JAN-JUN mon-fri", "*/15 * * * 7", "5/10 0 * * SUN", "59 23 31 12 0-6"):
        cron = {"cronjob": {"scheduled_at": expression, "timezone": "America/New_York"}}
        r = await catalog.api.put(f"/job/{jid}", json={"name": "nightly", "healthchecks": ok, "schedule": cron})
        assert r.status_code == 200, (expression, r.text)
    before = (await catalog.api.get(f"/job/{jid}")).json()
    bad(await catalog.api.put(f"/job/{jid}", json={"healthchecks": {}}), "name")
    bad(await catalog.api.put(f"/job/{jid}", json={"name": "nightly"}), "healthchecks")
    bad(await catalog.api.put(f"/job/{jid}", json={"name": "x", "healthchecks": ok, "port": None}), "liveness_probe")
    bad(
        await catalog.api.put(
            f"/job/{jid}", json={"name": "x", "healthchecks": {}, "schedule": {"cronjob": {"scheduled_at": "* *"}}}
        ),
        "scheduled_at",
    )
    assert (await catalog.api.get(f"/job/{jid}")).json() == before


async def test_job_names_ids_and_stage(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    base = f"/environment/{eid}/job"
    jid = (await catalog.api.post(base, json=job(image(registry), "worker"))).json()["id"]
    r = await catalog.api.post(base, json=job(image(registry), "WORKER"))
    assert r.status_code == 409 and "already taken" in r.json()["detail"]
    r = await catalog.api.post(f"/environment/{eid}/application", json=application_body("Worker"))
    assert r.status_code == 409
    aid = (await catalog.api.post(f"/environment/{eid}/application", json=application_body("api"))).json()["id"]
    assert (await catalog.api.post(base, json=job(image(registry), "api"))).status_code == 409
    assert (await catalog.api.put(f"/job/{jid}", json={"name": "api", "healthchecks": {}})).status_code == 409

    nowhere = uuid.uuid4()
    assert (await catalog.api.post(f"/environment/{nowhere}/job", json=job(image(registry)))).status_code == 404
    assert (await catalog.api.get(f"/environment/{nowhere}/job")).status_code == 404
    assert (await catalog.api.get(f"/job/{nowhere}")).status_code == 404
    assert (await catalog.api.put(f"/job/{nowhere}", json=job(image(registry)))).status_code == 404
    assert (await catalog.api.delete(f"/job/{nowhere}")).status_code == 404
    assert (await catalog.api.get(f"/job/{aid}")).status_code == 404
    assert (await catalog.api.get(f"/application/{jid}")).status_code == 404

    stages = check(
        spec, "ListEnvironmentDeploymentStage", await catalog.api.get(f"/environment/{eid}/deploymentStage")
    )["results"]
    by_name = {s["name"]: [(x["service_id"], x["service_type"]) for x in s["services"]] for s in stages}
    assert by_name["JOB DEFAULT"] == [(jid, "JOB")]
    assert by_name["APPLICATION DEFAULT"] == [(aid, "APPLICATION")]


async def test_an_image_job_keeps_its_registry_in_use(catalog: Catalog) -> None:  # noqa: F811
    eid, _, org = await _environment(catalog)
    r = await catalog.api.post(
        f"/organization/{org}/containerRegistry",
        json={"name": "private", "kind": "GENERIC_CR", "url": "https://registry.example.com", "config": {}},
    )
    assert r.status_code == 201, r.text
    registry = r.json()["id"]
    jid = (await catalog.api.post(f"/environment/{eid}/job", json=job(image(registry)))).json()["id"]
    r = await catalog.api.delete(f"/organization/{org}/containerRegistry/{registry}")
    assert r.status_code == 409 and "used by 1 service" in r.json()["detail"]
    assert (await catalog.api.delete(f"/job/{jid}")).status_code == 204
    assert (await catalog.api.delete(f"/organization/{org}/containerRegistry/{registry}")).status_code == 204
