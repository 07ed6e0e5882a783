"""One `/deployment/logs` client: replay an execution from the database, then follow it live, gap- and
duplicate-free, switching to a newer execution of the environment when one starts (follow mode)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from logs.deployment import store
from logs.deployment.hub import Feed, LineHub
from logs.deployment.lines import is_newer
from logs.deployment.render import frames, timestamp_us
from slipway.db import Database
from slipway.deploylog import DeployLogLine

Send = Callable[[str], Awaitable[None]]


class Sent:
    """The (source, seq) keys already sent for the current execution; bounded: past `limit` keys per source,
    the lower half collapses into a floor (reordering never spans that many lines)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self.seqs: dict[str, set[int]] = {}
        self.floors: dict[str, int] = {}

    def add(self, source: str, seq: int) -> bool:
        """Record the key; False if it was already sent."""
        seqs = self.seqs.setdefault(source, set())
        if seq in seqs or seq <= self.floors.get(source, -1):
            return False
        seqs.add(seq)
        if len(seqs) > self.limit:
            ordered = sorted(seqs)
            cut = len(ordered) // 2
            self.floors[source] = ordered[cut - 1]
            self.seqs[source] = set(ordered[cut:])
        return True


class LogSession:
    def __init__(
        self,
        db: Database,
        hub: LineHub,
        send: Send,
        environment_id: str,
        *,
        version: str | None,
        since_us: int | None,
        buffer: int,
        catch_up_seconds: float,
    ) -> None:
        self.db = db
        self.hub = hub
        self.send = send
        self.environment_id = environment_id
        self.version = version
        self.since_us = since_us  # resume: lines at or after this timestamp (of the first execution only)
        self.buffer = buffer
        self.catch_up_seconds = catch_up_seconds
        self.current: str | None = None
        self.follow_newer = True
        self.sent = Sent()

    async def run(self) -> None:
        feed = await self.hub.open(self.environment_id, self.buffer)
        try:
            await self.hub.caught_up(self.catch_up_seconds)
            latest = await store.latest_execution(self.db, self.environment_id)
            self.current = self.version or latest
            # a past execution is replayed (and followed while it still writes); the latest one, or none
            # named, follows the environment from one execution to the next
            self.follow_newer = self.version is None or self.version == latest
            if self.current is not None:
                await self.replay()
            await self.follow(feed)
        finally:
            self.hub.close(feed)

    def _wanted(self, line: DeployLogLine) -> bool:
        if not self.sent.add(line.source, line.seq):
            return False
        return self.since_us is None or timestamp_us(line) >= self.since_us

    async def _send(self, lines: list[DeployLogLine]) -> None:
        for frame in frames(lines):
            await self.send(frame)

    async def replay(self) -> None:
        """Send every stored line of the current execution not sent yet, page by page."""
        assert self.current is not None
        since_ms = self.since_us // 1000 if self.since_us is not None else None
        cursor: store.Cursor | None = None
        while True:
            lines = await store.page(self.db, self.environment_id, self.current, cursor, since_ms)
            if not lines:
                return
            await self._send([line for line in lines if self._wanted(line)])
            last = lines[-1]
            cursor = (last.timestamp_ms, last.source, last.seq)
            if len(lines) < store.PAGE:
                return

    async def switch(self, execution_id: str) -> None:
        self.current, self.sent, self.since_us = execution_id, Sent(), None
        await self.replay()

    async def resync(self, feed: Feed) -> None:
        """The client fell behind and live lines were dropped: re-read them from the database."""
        feed.reset()
        await self.hub.caught_up(self.catch_up_seconds)
        if self.follow_newer:
            latest = await store.latest_execution(self.db, self.environment_id)
            if latest is not None and is_newer(latest, self.current):
                await self.switch(latest)
                return
        if self.current is not None:
            await self.replay()

    async def follow(self, feed: Feed) -> None:
        while True:
            if feed.overflowed:
                await self.resync(feed)
            batch = await feed.next_batch()
            out: list[DeployLogLine] = []
            for line in batch:
                if line.execution_id != self.current:
                    if not (self.follow_newer and is_newer(line.execution_id, self.current)):
                        continue  # an older execution's late line, or another execution than the one asked
                    await self._send(out)
                    out = []
                    await self.switch(line.execution_id)  # replays what it stored before this line
                if self._wanted(line):
                    out.append(line)
            await self._send(out)
