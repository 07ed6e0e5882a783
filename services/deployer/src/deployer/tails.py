"""Live service output for the logs service: `logsctl.tail` keeps one engine tail per service, `logsctl.status`.

Requests (core NATS request/reply, queue group `deployer`):

* `logsctl.tail` `{environment_id, service_id, since_ms?}` starts the service's tail, or keeps it alive. The tail
  runs `driver.follow_logs(...)` and publishes each line on `logs.<environment_id>.<service_id>` as
  `{service_id, pod_name, container_name, deployment_id, stream, timestamp_ms, message}`; it stops when no request
  names it for `idle_seconds`. A new tail follows from now. With `since_ms` older than where the tail follows
  from (or for a new tail), the reply carries every line from `since_ms` up to now; it overlaps the live lines
  (receivers de-duplicate) so a requester that subscribed to the subject first misses nothing.
  Reply `{ok, started, since_ms (where the tail follows from), history: [line…], truncated}`.
* `logsctl.status` `{environment_id}` → `{ok, services: [ServiceStatus as JSON]}`.

Service output is masked like deployment logs: the service's secret values (secret variables and secret
files, read from catalog's desired state when the tail starts) and credential-looking strings become `***`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from nats.aio.msg import Msg

from deployer.runtime.base import LogLine, RuntimeDriver
from slipway.contracts import Subjects
from slipway.deploylog import Masker
from slipway.natsconn import NatsConnection
from slipway.tasks import cancel_and_wait

log = logging.getLogger("deployer.tails")

TAIL_SUBJECT = Subjects.LOGSCTL_TAIL
STATUS_SUBJECT = Subjects.LOGSCTL_STATUS
QUEUE = "deployer"
LINES_PREFIX = "logs"
HISTORY_MAX_LINES = 2000
HISTORY_MAX_BYTES = 600_000  # a reply stays well under NATS' default 1 MiB payload
MESSAGE_MAX_CHARS = 32_768
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def lines_subject(environment_id: str, service_id: str) -> str:
    return f"{LINES_PREFIX}.{environment_id}.{service_id}"


def line_json(line: LogLine, mask: Masker | None = None) -> dict[str, Any]:
    body = asdict(line)
    message = line.message if mask is None else mask(line.message)
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[:MESSAGE_MAX_CHARS] + " [truncated]"
    body["message"] = message
    return body


@dataclass
class Tail:
    environment_id: str
    service_id: str
    since_ms: int
    last_request: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    mask: Masker = field(default_factory=Masker)


class Tails:
    """The responder: at most one running tail per (environment, service) in this process."""

    def __init__(
        self,
        nats: NatsConnection,
        driver: Callable[[str], Awaitable[RuntimeDriver]],  # the driver of an environment's cluster
        *,
        idle_seconds: float = 30.0,
        secrets: Callable[[str, str], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.nats = nats
        self.driver = driver
        self.secrets = secrets
        self.idle_seconds = idle_seconds
        self.tails: dict[tuple[str, str], Tail] = {}
        self._main: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="deployer-tails")

    async def stop(self) -> None:
        await cancel_and_wait(self._main, list(self._requests), [tail.task for tail in self.tails.values()])
        self.tails.clear()

    async def _run(self) -> None:
        await self.nats.wait_connected()
        nc = self.nats.nc
        assert nc is not None
        subs = [
            await nc.subscribe(TAIL_SUBJECT, queue=QUEUE, cb=self._on_tail),
            await nc.subscribe(STATUS_SUBJECT, queue=QUEUE, cb=self._on_status),
        ]
        try:
            while True:
                await asyncio.sleep(max(0.2, min(5.0, self.idle_seconds / 6)))
                self._reap()
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    def _reap(self) -> None:
        now = time.monotonic()
        for key, tail in list(self.tails.items()):
            if now - tail.last_request > self.idle_seconds:
                log.info("tail stopped (no keep-alive)", extra={"environment_id": key[0], "service_id": key[1]})
                del self.tails[key]
                if tail.task is not None:
                    tail.task.cancel()

    # -- requests -------------------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _on_tail(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
            env, svc = str(body["environment_id"]), str(body["service_id"])
            since = body.get("since_ms")
            since_ms = int(since) if since is not None else None
            if not (_TOKEN.match(env) and _TOKEN.match(svc)):
                raise ValueError("environment_id and service_id must be ids")
        except (ValueError, KeyError, TypeError) as exc:
            await _reply(msg, {"ok": False, "error": f"bad tail request: {exc}"})
            return
        tail, started = self._ensure(env, svc)
        if since_ms is None or (not started and since_ms >= tail.since_ms):
            await _reply(msg, {"ok": True, "started": started, "since_ms": tail.since_ms, "history": []})
            return
        self._spawn(self._answer_history(msg, tail, started, since_ms))

    def _ensure(self, env: str, svc: str) -> tuple[Tail, bool]:
        key = (env, svc)
        tail = self.tails.get(key)
        if tail is not None and tail.task is not None and not tail.task.done():
            tail.last_request = time.monotonic()
            return tail, False
        tail = Tail(env, svc, since_ms=int(time.time() * 1000))
        tail.task = asyncio.create_task(self._follow(tail), name=f"tail-{svc}")
        self.tails[key] = tail
        log.info("tail started", extra={"environment_id": env, "service_id": svc})
        return tail, True

    async def _follow(self, tail: Tail) -> None:
        nc = self.nats.nc
        assert nc is not None
        subject = lines_subject(tail.environment_id, tail.service_id)
        try:
            tail.mask = await self._masker(tail.environment_id, tail.service_id)
            async for line in (await self.driver(tail.environment_id)).follow_logs(
                tail.environment_id, tail.service_id, since_ms=tail.since_ms, follow=True
            ):
                await nc.publish(subject, json.dumps(line_json(line, tail.mask)).encode())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next keep-alive starts a new tail (its history fills the gap)
            log.warning("tail of %s ended: %s", tail.service_id, exc)
        finally:
            if self.tails.get((tail.environment_id, tail.service_id)) is tail:
                del self.tails[(tail.environment_id, tail.service_id)]

    async def _masker(self, env: str, svc: str) -> Masker:
        if self.secrets is None:
            return Masker()
        try:
            return Masker(await self.secrets(env, svc))
        except Exception as exc:  # noqa: BLE001 - catalog away: generic masking only, say so
            log.warning("secrets of %s unavailable (%s): generic masking only", svc, exc)
            return Masker()

    async def _answer_history(self, msg: Msg, tail: Tail, started: bool, since_ms: int) -> None:
        try:
            lines, truncated = await self._history(tail.environment_id, tail.service_id, since_ms)
        except Exception as exc:  # noqa: BLE001 - the live tail runs anyway; say what went wrong
            log.warning("history of %s failed: %s", tail.service_id, exc)
            await _reply(msg, {"ok": False, "started": started, "since_ms": tail.since_ms, "error": str(exc)})
            return
        tail.last_request = time.monotonic()  # the idle clock starts when the requester has its answer
        body = {"ok": True, "started": started, "since_ms": tail.since_ms, "history": lines, "truncated": truncated}
        await _reply(msg, body)

    async def _history(self, env: str, svc: str, since_ms: int) -> tuple[list[dict[str, Any]], bool]:
        """Every line since `since_ms` up to now: it overlaps what the tail publishes (receivers de-duplicate)
        but leaves no gap, even for a requester that subscribed after the tail started."""
        lines: list[dict[str, Any]] = []
        mask = await self._masker(env, svc)
        async for line in (await self.driver(env)).follow_logs(env, svc, since_ms=since_ms, follow=False):
            if line.timestamp_ms >= since_ms:
                lines.append(line_json(line, mask))
        truncated = len(lines) > HISTORY_MAX_LINES
        lines = lines[-HISTORY_MAX_LINES:]
        size = sum(len(x["message"]) + 200 for x in lines)
        while lines and size > HISTORY_MAX_BYTES:  # keep the most recent lines
            size -= len(lines.pop(0)["message"]) + 200
            truncated = True
        return lines, truncated

    async def _on_status(self, msg: Msg) -> None:
        self._spawn(self._answer_status(msg))

    async def _answer_status(self, msg: Msg) -> None:
        try:
            env = str(json.loads(msg.data)["environment_id"])
            statuses = await (await self.driver(env)).status(env)
        except (ValueError, KeyError, TypeError) as exc:
            await _reply(msg, {"ok": False, "error": f"bad status request: {exc}"})
            return
        except Exception as exc:  # noqa: BLE001 - engine unreachable: the caller keeps its last frame
            await _reply(msg, {"ok": False, "error": f"engine status failed: {exc}"})
            return
        await _reply(msg, {"ok": True, "services": [asdict(s) for s in statuses]})


async def _reply(msg: Msg, body: dict[str, Any]) -> None:
    if msg.reply:
        with contextlib.suppress(Exception):
            await msg.respond(json.dumps(body).encode())
