"""The container engine (Docker Engine API, Docker or Podman) — the only module that imports aiodocker."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any, cast

import aiodocker
from aiodocker.exceptions import DockerError

from builder.progress import Progress, error_of

log = logging.getLogger("builder.engine")

Emit = Callable[[str], Awaitable[None]]
Stream = AsyncGenerator[dict[str, Any], None]
BUILD_ID_LABEL = "slipway.build-id"
SERVICE_ID_LABEL = "slipway.service-id"


class EngineFailure(Exception):
    """The engine reported an error; `step` is the Dockerfile step (or "push") it happened in."""

    def __init__(self, message: str, step: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.step = step


class Engine:
    """One Docker API client per process (owned by the app's lifespan)."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        self._docker: aiodocker.Docker | None = None

    @property
    def docker(self) -> aiodocker.Docker:
        """Connected on first use, so the service boots (and serves reads) while no engine is configured."""
        if self._docker is None:
            try:
                self._docker = aiodocker.Docker(url=self.host)
            except (AssertionError, ValueError, OSError) as exc:
                raise EngineFailure(f"no container engine reachable (set DOCKER_HOST): {exc}", "engine") from None
        return self._docker

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()

    async def image_id(self, name: str) -> str | None:
        try:
            info = await self.docker.images.inspect(name)
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise
        return str(info["Id"])

    async def image_exists(self, name: str) -> bool:
        return await self.image_id(name) is not None

    async def build(
        self,
        context_tar: Path,
        *,
        dockerfile: str,
        image: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        emit: Emit,
        progress: Progress,
    ) -> str:
        """Build `image` from a tar context, emitting each output line; returns the image id.

        Closing the stream (cancelling the caller) makes the engine abandon the build; Podman does so once the
        running step ends, so `remove_leftovers` clears what it left meanwhile.
        """
        with open(context_tar, "rb") as context:  # noqa: ASYNC230 - aiodocker reads it chunk by chunk
            stream = cast(
                Stream,
                self.docker.images.build(
                    fileobj=context,
                    encoding="identity",
                    path_dockerfile=dockerfile,
                    tag=image,
                    buildargs=dict(build_args),
                    labels=dict(labels),
                    rm=True,
                    forcerm=True,
                    pull=False,
                    stream=True,
                ),
            )
            try:
                async with aclosing(stream):  # a cancelled caller closes the connection at once
                    async for item in stream:
                        for line in progress.feed(item):
                            await emit(line)
            except DockerError as exc:
                # in-band {"error": …} lines arrive as DockerStreamError; a refused request as DockerError
                raise EngineFailure(_message(exc), progress.step) from None
        image_id = await self.image_id(image)
        if image_id is None:
            raise EngineFailure(f"the engine finished without producing {image}", progress.step)
        return image_id

    async def tag(self, source: str, target: str) -> None:
        repo, _, tag = target.rpartition(":")
        await self.docker.images.tag(source, repo, tag=tag)

    async def push(self, image: str, auth: Mapping[str, str] | None, emit: Emit) -> None:
        """Push `image` (`host/repo:tag`), with registry credentials when given."""
        repo, _, tag = image.rpartition(":")
        progress = Progress()
        stream = cast(Stream, self.docker.images.push(repo, tag=tag, auth=dict(auth) if auth else {}, stream=True))
        try:
            async with aclosing(stream):
                async for item in stream:
                    error = error_of(item)
                    if error:
                        raise EngineFailure(error, "push")
                    for line in progress.feed(item):
                        await emit(line)
        except DockerError as exc:
            raise EngineFailure(_message(exc), "push") from None

    async def remove_image(self, name: str) -> None:
        try:
            await self.docker.images.delete(name, force=True)
        except DockerError as exc:
            if exc.status != 404:
                raise

    async def untag(self, name: str) -> bool:
        """Remove the name `name` (the image goes with its last name); False while a container still uses it.
        Never forced: an image a container runs stays, and so does a name already gone (True)."""
        try:
            await self.docker.images.delete(name, force=False)
        except DockerError as exc:
            if exc.status == 404:
                return True
            if exc.status == 409:
                return False
            raise
        return True

    async def remove_leftovers(self, build_id: str, layers: list[str]) -> list[str]:
        """Remove what an abandoned build left: containers labelled with the build id (Docker) and Buildah
        working containers named after the build's layers (Podman lists those only with `external`)."""
        removed: list[str] = []
        filters = json.dumps({"label": [f"{BUILD_ID_LABEL}={build_id}"]})
        for container in await self.docker.containers.list(all=True, filters=filters):
            await container.delete(force=True)
            removed.append(container.id)
        prefixes = tuple(layer[:11] for layer in layers)
        if not prefixes:
            return removed
        for external in await self._external_containers():
            names = external.get("Names") or []
            if any(n.startswith(prefixes) and n.endswith("-working-container") for n in names):
                try:
                    await self.docker._query_json(f"libpod/containers/{external['Id']}", "DELETE", params={"force": 1})
                    removed.append(str(external["Id"]))
                except DockerError as exc:
                    log.warning("could not remove build container %s: %s", external["Id"], exc)
        return removed

    async def _external_containers(self) -> list[dict[str, Any]]:
        try:
            found = await self.docker._query_json("libpod/containers/json", params={"all": "true", "external": "true"})
        except DockerError:
            return []  # not Podman
        return list(found or [])

    async def build_containers(self, build_id: str) -> list[str]:
        """Containers the engine lists with this build's label."""
        filters = json.dumps({"label": [f"{BUILD_ID_LABEL}={build_id}"]})
        return [c.id for c in await self.docker.containers.list(all=True, filters=filters)]


def _message(exc: DockerError) -> str:
    message = exc.message if isinstance(exc.message, str) else json.dumps(exc.message)
    return message.strip() or f"engine error {exc.status}"
