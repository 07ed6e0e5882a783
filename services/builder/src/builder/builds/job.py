"""One build's pipeline: fetch the ref, hash the sources, skip or build, push."""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from builder import git, registry
from builder.builds import repository
from builder.builds.logs import BuildLog
from builder.builds.schemas import BuildRequest
from builder.builds.service import content_hash, image_tag
from builder.engine import BUILD_ID_LABEL, SERVICE_ID_LABEL, Engine, EngineFailure
from builder.progress import Progress
from builder.settings import BuilderSettings
from slipway.db import Database
from slipway.deploylog import Masker

log = logging.getLogger("builder.job")


class BuildError(Exception):
    """The build failed for a reason its owner can act on; `message` is masked, `step` says where."""

    def __init__(self, message: str, step: str) -> None:
        super().__init__(message)
        self.message = message
        self.step = step


@dataclass
class Outcome:
    commit: str
    content_hash: str
    image: str  # what to deploy
    local_image: str
    skipped: bool


class Job:
    def __init__(
        self,
        build_id: uuid.UUID,
        request: BuildRequest,
        *,
        settings: BuilderSettings,
        engine: Engine,
        http: httpx.AsyncClient,
        db: Database,
        log: BuildLog,
        mask: Masker,
    ) -> None:
        self.build_id = build_id
        self.request = request
        self.settings = settings
        self.engine = engine
        self.http = http
        self.db = db
        self.log = log
        self.mask = mask
        self.progress = Progress()
        self.local_image: str | None = None

    async def _record(self, **values: object) -> None:
        async with self.db.transaction() as session:
            await repository.set_fields(session, self.build_id, **values)

    async def run(self) -> Outcome:
        source = self.request.git
        with tempfile.TemporaryDirectory(prefix="slipway-build-") as tmp:
            workdir = Path(tmp)
            ref = source.commit or (f"branch {source.branch}" if source.branch else "the default branch")
            await self.log(f"Cloning {git.display_url(source.url)} at {ref}")
            try:
                checkout = await git.fetch(
                    source.url,
                    workdir,
                    commit=source.commit,
                    branch=source.branch,
                    token=source.token,
                    ssh_key=source.ssh_key,
                    git=self.settings.git_binary,
                    allow_file=self.settings.allow_file_urls,
                )
                tree = await checkout.tree(source.root_path)
            except git.GitError as exc:
                raise BuildError(self.mask(exc.message), exc.step) from None
            dockerfile = source.dockerfile_path or "Dockerfile"
            in_repo = "/".join(p for p in (source.root_path, dockerfile) if p)
            if not await checkout.has_file(in_repo):
                raise BuildError(f"{in_repo} not found at commit {checkout.commit}", "dockerfile")
            digest = content_hash(tree, dockerfile, self.request.build_args)
            local = f"{self.request.image_repository}:{image_tag(digest)}"
            target = local
            if self.request.registry is not None:
                target = f"{registry.pushed_repository(self.request.registry, self.request.image_repository)}"
                target += f":{image_tag(digest)}"
            self.local_image = local
            await self._record(commit=checkout.commit, content_hash=digest, local_image=local)
            await self.log(f"Commit {checkout.commit}, image {target}")

            if self.request.registry is not None and await self._in_registry(target):
                await self.log(f"Build skipped: {target} already exists in the registry")
                return Outcome(checkout.commit, digest, target, local, skipped=True)
            skipped = await self.engine.image_exists(local)
            if skipped:
                await self.log(f"Build skipped: {local} already exists (same sources, Dockerfile and build args)")
            else:
                context = await checkout.archive(source.root_path, workdir / "context.tar")
                await self.log(f"Building {local} from {dockerfile}")
                try:
                    await self.engine.build(
                        context,
                        dockerfile=dockerfile,
                        image=local,
                        build_args=self.request.build_args,
                        labels={BUILD_ID_LABEL: str(self.build_id), SERVICE_ID_LABEL: self.request.service_id},
                        emit=self.log.progress,
                        progress=self.progress,
                    )
                except EngineFailure as exc:
                    raise BuildError(self.mask(exc.message), self.mask(exc.step or "build")) from None
            if target != local:
                await self._push(local, target)
            return Outcome(checkout.commit, digest, target, local, skipped)

    async def _in_registry(self, reference: str) -> bool:
        assert self.request.registry is not None
        insecure = {registry.host_of(self.settings.registry_url)} if self.settings.registry_url else set()
        try:
            return await registry.tag_exists(self.http, self.request.registry, reference, insecure)
        except httpx.HTTPError as exc:
            await self.log(f"Could not ask the registry whether {reference} exists ({self.mask(str(exc))})", "Build")
            return False

    async def _push(self, local: str, target: str) -> None:
        ref = self.request.registry
        assert ref is not None
        await self.log(f"Pushing {target}")
        await self.engine.tag(local, target)
        auth = None
        if ref.username:
            auth = {
                "username": ref.username,
                "password": ref.password or "",
                "serveraddress": registry.host_of(ref.url),
            }
        try:
            await self.engine.push(target, auth, self.log.progress)
        except EngineFailure as exc:
            raise BuildError(f"push to {registry.host_of(ref.url)} failed: {self.mask(exc.message)}", "push") from None
