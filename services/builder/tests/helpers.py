"""Test helpers: Git repositories in temp dirs, a signed service client, the engine's API, log collection."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx

from slipway.principal import HEADER, service_principal, sign

KEY = "builder-test-internal-key"
BASE = "FROM localhost/slipway-busybox:latest\n"
FINAL = ("SUCCEEDED", "FAILED", "CANCELED")


class Signed(httpx.Auth):
    def __init__(self, name: str = "deployer", kind: str = "service") -> None:
        self.name, self.kind = name, kind

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        principal = service_principal(self.name)
        if self.kind != "service":
            principal = principal.model_copy(update={"kind": self.kind})
        request.headers[HEADER] = sign(principal, KEY)
        yield request


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit(root, files)
    return root


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def build_body(repo: Path, commit_sha: str | None, **overrides: Any) -> dict[str, Any]:
    env = str(uuid.uuid4())
    service = str(uuid.uuid4())
    body: dict[str, Any] = {
        "deployment_id": f"{env}-1",
        "organization_id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "environment_id": env,
        "service_id": service,
        "service_name": "app",
        "stage_id": None,
        "git": {"url": f"file://{repo}", "branch": "main", "commit": commit_sha, "root_path": "/"},
        "build_args": {},
        "secret_values": [],
        "image_repository": f"localhost/slipway/{service}",
        "registry": None,
    }
    git_overrides = overrides.pop("git", {})
    body.update(overrides)
    body["git"].update(git_overrides)
    return body


class EngineAPI:
    """The engine's Docker-compatible API, as a test inspects it (independently of the builder's client)."""

    def __init__(self, host: str) -> None:
        transport = httpx.AsyncHTTPTransport(uds=host.removeprefix("unix://"))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://engine", timeout=60)

    async def image(self, name: str) -> dict[str, Any] | None:
        r = await self.client.get(f"/images/{name}/json")
        return r.json() if r.status_code == 200 else None

    async def images_labelled(self, build_id: str) -> list[dict[str, Any]]:
        filters = json.dumps({"label": [f"slipway.build-id={build_id}"]})
        r = await self.client.get("/images/json", params={"filters": filters})
        r.raise_for_status()
        return list(r.json())

    async def containers_labelled(self, build_id: str) -> list[dict[str, Any]]:
        filters = json.dumps({"label": [f"slipway.build-id={build_id}"]})
        r = await self.client.get("/containers/json", params={"all": "true", "filters": filters})
        r.raise_for_status()
        return list(r.json())

    async def working_containers(self) -> list[str]:
        """Buildah's build containers (Podman lists them only as `external`)."""
        r = await self.client.get("/libpod/containers/json", params={"all": "true", "external": "true"})
        if r.status_code != 200:
            return []
        return [n for c in r.json() for n in c.get("Names") or [] if n.endswith("-working-container")]

    async def read_file(self, image: str, path: str) -> str:
        """A file's content in `image`, read from a created (never started) container."""
        r = await self.client.post("/containers/create", json={"Image": image, "Cmd": ["true"]})
        r.raise_for_status()
        cid = r.json()["Id"]
        try:
            archive = await self.client.get(f"/containers/{cid}/archive", params={"path": path})
            archive.raise_for_status()
            with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
                member = tar.extractfile(tar.getmembers()[0])
                assert member is not None
                return member.read().decode()
        finally:
            await self.client.delete(f"/containers/{cid}", params={"force": "true"})

    async def remove_image(self, name: str) -> None:
        await self.client.delete(f"/images/{name}", params={"force": "true"})
