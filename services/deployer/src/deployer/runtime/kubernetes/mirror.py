"""Namespaces mirrored by list + watch: the workloads and pods that service statuses and log follows read.

A mirror lists each kind once, then follows a watch from the list's resourceVersion (resumed from the last version
seen when the server ends it, listed again on 410 Gone), so reading a status costs no API request. A mirror lives
while it is read: one nobody touched for `idle_seconds` closes its watches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from deployer.runtime.kubernetes.api import Kind, KubeApi
from slipway.tasks import cancel_and_wait

log = logging.getLogger("deployer.runtime.kubernetes")


class Mirror:
    """The objects of `kinds` in one namespace that match `selector`, by kind plural then name."""

    def __init__(self, api: KubeApi, namespace: str, kinds: tuple[Kind, ...], selector: str) -> None:
        self.api, self.namespace, self.kinds, self.selector = api, namespace, kinds, selector
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k.plural: {} for k in kinds}
        self._listed = {k.plural: asyncio.Event() for k in kinds}
        self._change = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.last_used = time.monotonic()
        self.lists = 0  # full lists made (the first of each kind, then one per 410 or broken watch)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(kind), name=f"mirror-{kind.plural}") for kind in self.kinds]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    def touch(self) -> None:
        self.last_used = time.monotonic()

    async def ready(self, timeout: float) -> bool:
        """Whether every kind was listed (waiting at most `timeout` seconds)."""
        try:
            async with asyncio.timeout(timeout):
                for event in self._listed.values():
                    await event.wait()
            return True
        except TimeoutError:
            return False

    def items(self, kind: Kind) -> list[dict[str, Any]]:
        return list(self.objects[kind.plural].values())

    def changed(self) -> asyncio.Event:
        """An event set at the next change of anything mirrored (take it before reading, then wait on it)."""
        return self._change

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _follow(self, kind: Kind) -> None:
        version, delay = "", 0.5
        store = self.objects[kind.plural]
        while True:
            try:
                if not version:
                    listed = await self.api.list(kind, self.namespace, self.selector)
                    self.lists += 1
                    store.clear()
                    store.update({o["metadata"]["name"]: o for o in listed.get("items", [])})
                    version = str(listed.get("metadata", {}).get("resourceVersion", ""))
                    self._listed[kind.plural].set()
                    self._changed()
                async for event in self.api.watch(kind, self.namespace, self.selector, version, 240):
                    kind_of_event, obj = event.get("type"), event.get("object") or {}
                    if kind_of_event == "ERROR":
                        version = ""  # 410 Gone (the version is too old) or another error: list again
                        break
                    version = str(obj.get("metadata", {}).get("resourceVersion", version))
                    if kind_of_event == "BOOKMARK":
                        continue
                    name = obj.get("metadata", {}).get("name")
                    if not name:
                        continue
                    if kind_of_event == "DELETED":
                        store.pop(name, None)
                    else:
                        store[name] = obj
                    self._changed()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken watch is listed again after a pause
                log.debug("mirror of %s/%s: %s", self.namespace, kind.plural, exc)
                version = ""
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class Mirrors:
    """One mirror per namespace, made on first read and closed once unread for `idle_seconds`."""

    def __init__(self, api: KubeApi, idle_seconds: float = 60.0) -> None:
        self.api, self.idle_seconds = api, idle_seconds
        self.mirrors: dict[str, Mirror] = {}
        self._reaper: asyncio.Task[None] | None = None

    def get(self, namespace: str, kinds: tuple[Kind, ...], selector: str) -> Mirror:
        mirror = self.mirrors.get(namespace)
        if mirror is None or mirror.kinds != kinds:
            if mirror is not None:
                asyncio.create_task(mirror.close())
            mirror = self.mirrors[namespace] = Mirror(self.api, namespace, kinds, selector)
            mirror.start()
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="mirror-reaper")
        mirror.touch()
        return mirror

    async def _reap(self) -> None:
        while self.mirrors:
            await asyncio.sleep(max(0.5, self.idle_seconds / 4))
            now = time.monotonic()
            for namespace, mirror in list(self.mirrors.items()):
                if now - mirror.last_used > self.idle_seconds:
                    del self.mirrors[namespace]
                    await mirror.close()

    async def close(self) -> None:
        await cancel_and_wait(self._reaper)
        mirrors, self.mirrors = list(self.mirrors.values()), {}
        for mirror in mirrors:
            await mirror.close()
