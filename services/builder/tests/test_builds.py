"""Builds through the internal API against real Postgres, NATS, Git repositories and the container engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import text

from builder.main import create_app
from builder.settings import BuilderSettings
from slipway_stack.testing import serve, wait_until

from .helpers import BASE, FINAL, KEY, EngineAPI, Signed, build_body, commit, make_repo


@dataclass
class Builder:
    app: Any
    api: httpx.AsyncClient
    engine: EngineAPI
    lines: list[dict[str, Any]] = field(default_factory=list)

    async def build(self, body: dict[str, Any], expect: int = 202) -> dict[str, Any]:
        r = await self.api.post("/internal/builds", json=body)
        assert r.status_code == expect, r.text
        return dict(r.json())

    async def finished(self, build_id: str, timeout: float = 60) -> dict[str, Any]:
        state: dict[str, Any] = {}

        async def done() -> bool:
            state.update((await self.api.get(f"/internal/builds/{build_id}")).json())
            return state["status"] in FINAL

        await wait_until(done, timeout=timeout, interval=0.1, message=f"build {build_id} never finished")
        return state

    async def events(self) -> list[dict[str, Any]]:
        async with self.app.state.db.transaction() as session:
            rows = await session.execute(text("SELECT subject, data FROM builder.outbox ORDER BY seq"))
            return [{"subject": s, **json.loads(d)} for s, d in rows]

    async def table_text(self) -> str:
        async with self.app.state.db.transaction() as session:
            rows = await session.execute(text("SELECT row_to_json(b)::text FROM builder.builds b"))
            outbox = await session.execute(text("SELECT data FROM builder.outbox"))
            return "\n".join([*(r[0] for r in rows), *(r[0] for r in outbox)])

    def log_of(self, deployment_id: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["execution_id"] == deployment_id]


@contextlib.asynccontextmanager
async def running_builder(
    database_url: str, nats_url: str, engine_host: str, **settings: Any
) -> AsyncIterator[Builder]:
    config = BuilderSettings(
        database_url=database_url, nats_url=nats_url, internal_auth_key=KEY, docker_host=engine_host, **settings
    )
    app = create_app(config)
    nc = await nats.connect(nats_url)
    engine = EngineAPI(engine_host)
    try:
        async with serve(app) as url, httpx.AsyncClient(base_url=url, auth=Signed(), timeout=30) as api:
            builder = Builder(app, api, engine)

            async def collect(msg: Any) -> None:
                builder.lines.append(json.loads(msg.data))

            await nc.subscribe("deploylogs.>", cb=collect)
            await app.state.nats.wait_connected(10)
            try:
                yield builder
            finally:  # what the test built leaves the machine's engine with it
                async with app.state.db.transaction() as session:
                    rows = await session.execute(text("SELECT local_image, image FROM builder.builds"))
                    names = {n for row in rows for n in row if n}
                for name in names:
                    await engine.remove_image(name)
    finally:
        await nc.close()
        await engine.client.aclose()


@pytest.fixture
def start_builder(database_url: str, nats_server, engine) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def _start(**settings: Any) -> Any:
        return running_builder(database_url, nats_server.url, engine.host, **settings)

    return _start


async def test_build_then_skip_then_new_commit(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "app", {"Dockerfile": BASE + "COPY hello.txt /hello.txt\n", "hello.txt": "v1\n"})
    first_sha = commit(repo, {"hello.txt": "v1 again\n"})
    async with start_builder() as b:
        body = build_body(repo, first_sha)
        accepted = await b.build(body)
        assert accepted["status"] in ("QUEUED", "RUNNING") and accepted["skipped"] is False
        again = await b.build(body, expect=200)  # idempotent per (deployment, service)
        assert again["id"] == accepted["id"]
        done = await b.finished(accepted["id"])
        assert done["status"] == "SUCCEEDED", (done["error"], done["failing_step"])
        assert done["commit"] == first_sha and done["skipped"] is False and done["error"] is None
        repo_name, tag = done["image"].rsplit(":", 1)
        assert repo_name == body["image_repository"] and len(tag) == 16 and int(tag, 16) >= 0
        first_image = await b.engine.image(done["image"])
        assert first_image is not None
        assert await b.engine.read_file(done["image"], "/hello.txt") == "v1 again\n"
        steps = [line["step"] for line in b.log_of(body["deployment_id"])]
        assert "Build" in steps and steps[-1] == "Built"
        assert all(line["source"] == "builder" for line in b.lines)

        # the same commit in the next deployment: answered at once, no engine build
        second = build_body(repo, first_sha, service_id=body["service_id"], image_repository=body["image_repository"])
        skipped = await b.build(second, expect=200)
        assert skipped["status"] == "SUCCEEDED" and skipped["skipped"] is True, [
            x["message"] for x in b.log_of(again["deployment_id"])
        ]
        assert skipped["image"] == done["image"]
        assert await b.engine.images_labelled(skipped["id"]) == []
        assert (await b.engine.image(done["image"]))["Id"] == first_image["Id"]  # type: ignore[index]
        await wait_until(lambda: any("skipped" in line["message"] for line in b.log_of(second["deployment_id"])))

        # the same sources through another branch head (no commit given): skipped after the fetch
        third = build_body(repo, None, service_id=body["service_id"], image_repository=body["image_repository"])
        via_branch = await b.finished((await b.build(third))["id"])
        assert via_branch["status"] == "SUCCEEDED" and via_branch["skipped"] is True
        assert via_branch["image"] == done["image"] and via_branch["commit"] == first_sha
        assert await b.engine.images_labelled(via_branch["id"]) == []

        # a new commit changes the tree: a new tag is built
        new_sha = commit(repo, {"hello.txt": "v2\n"})
        fourth = build_body(repo, new_sha, service_id=body["service_id"], image_repository=body["image_repository"])
        rebuilt = await b.finished((await b.build(fourth))["id"])
        assert rebuilt["status"] == "SUCCEEDED" and rebuilt["skipped"] is False
        assert rebuilt["image"] != done["image"] and rebuilt["image"].startswith(body["image_repository"] + ":")
        assert await b.engine.read_file(rebuilt["image"], "/hello.txt") == "v2\n"

        events = await b.events()
        assert [e["subject"] for e in events] == ["evt.builder.build.succeeded"] * 4
        assert events[0]["payload"] == {
            "build_id": accepted["id"],
            "deployment_id": body["deployment_id"],
            "service_id": body["service_id"],
            "image": done["image"],
            "status": "SUCCEEDED",
            "error": None,
        }


async def test_root_path_dockerfile_build_args_and_masking(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = "s3cr3t-" + uuid.uuid4().hex
    token = "ghp_" + uuid.uuid4().hex
    dockerfile = BASE + 'ARG X\nARG API_KEY\nRUN echo "x is $X" > /x\nRUN echo "the key is $API_KEY"\n'
    repo = make_repo(
        tmp_path / "mono",
        {"services/api/docker/Api.dockerfile": dockerfile, "services/api/x.txt": "x\n", "Dockerfile": "broken\n"},
    )
    sha = commit(repo, {"README": "mono repo\n"})
    async with start_builder() as b:
        body = build_body(
            repo,
            sha,
            git={"root_path": "/services/api", "dockerfile_path": "docker/Api.dockerfile", "token": token},
            build_args={"X": "forty-two", "API_KEY": secret},
            secret_values=[secret],
        )
        done = await b.finished((await b.build(body))["id"])
        assert done["status"] == "SUCCEEDED", (done["error"], done["failing_step"])
        assert await b.engine.read_file(done["image"], "/x") == "x is forty-two\n"
        lines = b.log_of(body["deployment_id"])
        await wait_until(lambda: any(line["step"] == "Built" for line in b.log_of(body["deployment_id"])))
        everything = json.dumps(b.lines)
        assert "the key is ***" in everything  # the build printed it; the line was masked
        assert secret not in everything and token not in everything
        assert all(line["service_id"] == body["service_id"] and line["stage_id"] is None for line in lines)
        stored = await b.table_text()
        assert secret not in stored and token not in stored and "forty-two" not in stored


async def test_failures_broken_dockerfile_missing_commit_missing_dockerfile(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "broken", {"Dockerfile": BASE + "RUN echo ok\nRUN exit 3\nRUN echo never\n"})
    async with start_builder() as b:
        body = build_body(repo, None)
        broken = await b.finished((await b.build(body))["id"])
        assert broken["status"] == "FAILED" and broken["image"] is None
        assert re.fullmatch(r"STEP 3/\d+: RUN exit 3", broken["failing_step"]), broken  # Podman counts labels too
        assert broken["error"] and "exit" in broken["error"].lower()
        await wait_until(lambda: any(line["step"] == "BuildError" for line in b.log_of(body["deployment_id"])))
        error_line = next(line for line in b.log_of(body["deployment_id"]) if line["step"] == "BuildError")
        assert error_line["level"] == "ERROR" and broken["failing_step"] in error_line["message"]

        missing = build_body(repo, "0123456789abcdef0123456789abcdef01234567")
        lost = await b.finished((await b.build(missing))["id"])
        assert lost["status"] == "FAILED" and lost["failing_step"] == "clone"
        assert lost["error"] == f"commit 0123456789abcdef0123456789abcdef01234567 not found in file://{repo}"

        nowhere = build_body(tmp_path / "no-such-repo", None)
        unreachable = await b.finished((await b.build(nowhere))["id"])
        assert unreachable["status"] == "FAILED" and unreachable["failing_step"] == "clone"
        assert "could not fetch" in unreachable["error"]

        no_file = build_body(repo, None, git={"dockerfile_path": "deploy/Containerfile"})
        absent = await b.finished((await b.build(no_file))["id"])
        assert absent["status"] == "FAILED" and absent["failing_step"] == "dockerfile"
        assert absent["error"].startswith("deploy/Containerfile not found")

        subjects = [e["subject"] for e in await b.events()]
        assert subjects == ["evt.builder.build.failed"] * 4


async def slow_build_started(b: Any, slow: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit the slow repository's build and wait until its `RUN sleep 30` step runs: (body, build)."""
    body = build_body(slow, None)
    build = await b.build(body)
    await wait_until(
        lambda: any("RUN sleep 30" in line["message"] for line in b.log_of(body["deployment_id"])),
        timeout=30,
        message="the sleep step never started",
    )
    return body, build


async def test_cancel_queued_and_running_builds(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    slow = make_repo(tmp_path / "slow", {"Dockerfile": BASE + "COPY f /f\nRUN sleep 30\n", "f": uuid.uuid4().hex})
    quick = make_repo(tmp_path / "quick", {"Dockerfile": BASE + "COPY f /f\n", "f": uuid.uuid4().hex})
    async with start_builder(max_concurrent_builds=1) as b:
        body, running = await slow_build_started(b, slow)
        waiting = await b.build(build_body(quick, None))  # one slot: it waits behind the slow build
        assert (await b.api.get(f"/internal/builds/{waiting['id']}")).json()["status"] == "QUEUED"

        started = time.monotonic()
        r = await b.api.post(f"/internal/builds/{running['id']}/cancel")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "CANCELED"
        assert time.monotonic() - started < 10
        canceled = (await b.api.get(f"/internal/builds/{running['id']}")).json()
        assert canceled["status"] == "CANCELED" and canceled["finished_at"] is not None
        assert await b.engine.containers_labelled(running["id"]) == []
        layers = [
            line["message"].split()[-1]
            for line in b.log_of(body["deployment_id"])
            if line["message"].startswith("--> ")
        ]
        assert layers, "the build reported no layer"
        working = await b.engine.working_containers()
        assert not [n for n in working if n.startswith(tuple(layer[:11] for layer in layers))], working
        assert await b.engine.image(f"{body['image_repository']}:latest") is None

        # the queued build got the slot and ran
        assert (await b.finished(waiting["id"]))["status"] == "SUCCEEDED"

        # cancelling a queued build
        body_q = build_body(slow, None, deployment_id=f"{uuid.uuid4()}-2")
        blocker = await b.build(body_q)
        queued = await b.build(build_body(quick, None, deployment_id=f"{uuid.uuid4()}-3"))
        r = await b.api.post(f"/internal/builds/{queued['id']}/cancel")
        assert r.status_code == 202 and r.json()["status"] == "CANCELED"
        await b.api.post(f"/internal/builds/{blocker['id']}/cancel")
        assert (await b.finished(blocker["id"]))["status"] == "CANCELED"
        subjects = [e["subject"] for e in await b.events()]
        assert subjects.count("evt.builder.build.canceled") == 3


async def test_timeout_and_restart_recovery(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    slow = make_repo(tmp_path / "slow", {"Dockerfile": BASE + "COPY f /f\nRUN sleep 30\n", "f": uuid.uuid4().hex})
    async with start_builder(build_timeout_seconds=3) as b:
        timed = await b.finished((await b.build(build_body(slow, None)))["id"], timeout=30)
        assert timed["status"] == "FAILED" and timed["error"] == "timed out after 3s"
        assert re.fullmatch(r"STEP 3/\d+: RUN sleep 30", timed["failing_step"]), timed
        assert await b.engine.containers_labelled(timed["id"]) == []
        async with b.app.state.db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO builder.builds (id, deployment_id, organization_id, project_id, environment_id,"
                    " service_id, service_name, status, repository, root_path, dockerfile_path, image_repository,"
                    " skipped) VALUES (:id, 'e-9', 'o', 'p', 'e', 's', 'app', 'RUNNING', 'file:///x', '', 'Dockerfile',"
                    " 'localhost/x', false)"
                ),
                {"id": str(uuid.UUID(int=7))},
            )
        # a new process finds the build a dead one left RUNNING
        await b.app.state.builds.start()
        left = (await b.api.get(f"/internal/builds/{uuid.UUID(int=7)}")).json()
        assert left["status"] == "FAILED" and left["error"] == "builder restarted during the build"


async def test_push_to_registry(start_builder, tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "pushed", {"Dockerfile": BASE + "COPY f /f\n", "f": uuid.uuid4().hex})
    async with start_builder(registry_url=registry.address) as b:
        ref = {"id": str(uuid.uuid4()), "url": registry.address, "kind": "GENERIC_CR"}
        body = build_body(repo, None, registry=ref)
        done = await b.finished((await b.build(body))["id"])
        assert done["status"] == "SUCCEEDED", (done["error"], done["failing_step"])
        name = f"slipway/{body['service_id']}"
        tag = done["local_image"].rsplit(":", 1)[1]
        assert done["image"] == f"{registry.address}/{name}:{tag}"
        async with httpx.AsyncClient() as http:
            tags = (await http.get(f"http://{registry.address}/v2/{name}/tags/list")).json()
        assert tag in tags["tags"]
        # gone from the engine but present in the registry: nothing to build
        await b.engine.remove_image(done["local_image"])
        await b.engine.remove_image(done["image"])
        again = build_body(
            repo, None, registry=ref, service_id=body["service_id"], image_repository=body["image_repository"]
        )
        skipped = await b.finished((await b.build(again))["id"])
        assert skipped["status"] == "SUCCEEDED" and skipped["skipped"] is True, [
            x["message"] for x in b.log_of(again["deployment_id"])
        ]
        assert skipped["image"] == done["image"]


async def test_bad_bodies_and_callers(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with start_builder() as b:
        good = build_body(tmp_path, None)
        cases = [
            ({**good, "image_repository": "Not A Repo"}, "image_repository"),
            ({**good, "git": {**good["git"], "root_path": "../etc"}}, "root_path"),
            ({**good, "git": {**good["git"], "commit": "--upload-pack=x"}}, "commit"),
            ({**good, "build_args": {"1BAD": "x"}}, "build_args"),
            ({k: v for k, v in good.items() if k != "service_id"}, "service_id"),
        ]
        for body, word in cases:
            r = await b.api.post("/internal/builds", json=body)
            assert r.status_code == 400 and word in r.json()["detail"], r.text
        r = await b.api.post("/internal/builds", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert (await b.api.get(f"/internal/builds/{uuid.uuid4()}")).status_code == 404
        assert (await b.api.post(f"/internal/builds/{uuid.uuid4()}/cancel")).status_code == 404
        async with httpx.AsyncClient(base_url=str(b.api.base_url), auth=Signed("someone", "user")) as user:
            assert (await user.get(f"/internal/builds/{uuid.uuid4()}")).status_code == 403
        async with httpx.AsyncClient(base_url=str(b.api.base_url)) as anonymous:
            assert (await anonymous.post("/internal/builds", json=good)).status_code == 401


async def test_concurrent_identical_posts_make_one_build(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "same", {"Dockerfile": BASE + "COPY f /f\n", "f": uuid.uuid4().hex})
    async with start_builder() as b:
        body = build_body(repo, None)
        answers = await asyncio.gather(*(b.api.post("/internal/builds", json=body) for _ in range(4)))
        assert {r.status_code for r in answers} <= {200, 202}
        assert len({r.json()["id"] for r in answers}) == 1
        assert (await b.finished(answers[0].json()["id"]))["status"] == "SUCCEEDED"


async def test_a_cancellation_lost_by_python_still_stops_the_build(start_builder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On Python 3.11 `asyncio.wait_for` (nats-py's publish) can swallow a CancelledError: the runner keeps the
    request and stops the build at its next step anyway. Here the task is marked canceled and never interrupted."""
    slow = make_repo(tmp_path / "slow", {"Dockerfile": BASE + "COPY f /f\nRUN sleep 30\n", "f": uuid.uuid4().hex})
    quick = make_repo(tmp_path / "quick", {"Dockerfile": BASE + "COPY f /f\n", "f": uuid.uuid4().hex})
    async with start_builder(max_concurrent_builds=1) as b:
        _, blocker = await slow_build_started(b, slow)
        body = build_body(quick, None)
        queued = await b.build(body)
        b.app.state.builds._canceled.add(uuid.UUID(queued["id"]))  # asked to stop; its CancelledError "lost"
        await b.api.post(f"/internal/builds/{blocker['id']}/cancel")  # the slot frees up
        done = await b.finished(queued["id"])
        assert done["status"] == "CANCELED" and done["image"] is None
        assert await b.engine.image(f"{body['image_repository']}:latest") is None  # it never built


async def test_a_deleted_services_images_leave_the_engine_once_no_container_uses_them(  # type: ignore[no-untyped-def]
    start_builder, tmp_path: Path, registry
) -> None:
    repo = make_repo(tmp_path / "gone", {"Dockerfile": BASE + "COPY f /f\n", "f": uuid.uuid4().hex})
    ref = {"id": str(uuid.uuid4()), "url": registry.address, "kind": "GENERIC_CR"}
    async with start_builder(registry_url=registry.address, image_sweep_seconds=0.5) as b:
        body = build_body(repo, None, registry=ref)
        first = await b.finished((await b.build(body))["id"])
        same = {"service_id": body["service_id"], "image_repository": body["image_repository"], "registry": ref}
        second = await b.finished((await b.build(build_body(repo, commit(repo, {"f": "two"}), **same)))["id"])
        kept = await b.finished((await b.build(build_body(repo, None, registry=ref)))["id"])  # another service
        assert {first["status"], second["status"], kept["status"]} == {"SUCCEEDED"}
        names = [first["local_image"], first["image"], second["local_image"], second["image"]]
        assert all([await b.engine.image(n) for n in names]) and len(set(names)) == 4
        r = await b.engine.client.post("/containers/create", json={"Image": second["local_image"], "Cmd": ["true"]})
        r.raise_for_status()  # a container that still uses the second image
        holder = r.json()["Id"]
        try:
            await forgotten(b, body)

            async def first_gone() -> bool:  # after a whole pass (the second image could not go)
                row = await sweep_row(b)
                return row is not None and row.attempts >= 1 and not any([await b.engine.image(n) for n in names[:2]])

            await wait_until(first_gone, timeout=20, message="the deleted service's unused image stayed")
            assert "still used by a container" in (await sweep_row(b)).last_error
            assert await b.engine.image(second["local_image"]) is not None  # never forced from under a container
        finally:
            await b.engine.client.delete(f"/containers/{holder}", params={"force": "true"})

        async def all_gone() -> bool:
            return await sweep_row(b) is None and not any([await b.engine.image(n) for n in names])

        await wait_until(all_gone, timeout=20, message="the deleted service's images stayed once unused")
        assert await b.engine.image(kept["local_image"]) and await b.engine.image(kept["image"])


async def forgotten(b: Builder, body: dict[str, Any]) -> None:
    """The deployer's word, delivered twice, that the deleted service's uninstall is over."""
    from slipway.contracts import Subjects
    from slipway.events import Envelope

    js = await b.app.state.nats.wait_connected(10)
    event = Envelope(
        type=Subjects.DEPLOYER_SERVICES_FORGOTTEN,
        source="deployer",
        organization_id=uuid.UUID(body["organization_id"]),
        resource_id=body["environment_id"],
        payload={"service_ids": [body["service_id"]], "environment_id": body["environment_id"]},
    )
    for _ in range(2):  # a second delivery of the same fact changes nothing
        await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})


async def sweep_row(b: Builder) -> Any:
    async with b.app.state.db.transaction() as session:
        return (await session.execute(text("SELECT attempts, last_error FROM builder.image_sweeps"))).one_or_none()
