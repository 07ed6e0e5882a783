"""Stopping background tasks for sure: cancel, and cancel again a task that swallowed the cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

RECANCEL_SECONDS = 0.5


Tasks = asyncio.Future[Any] | Iterable[asyncio.Future[Any] | None] | None


async def cancel_and_wait(*tasks: Tasks) -> None:
    """Cancel every task given (alone or in iterables; None is skipped) and return once each has ended.

    Python 3.11's `asyncio.wait_for` drops a cancellation that arrives as the future it waits for completes, and
    returns that future's result instead (fixed in 3.12); nats-py's `request()` and `fetch()` wait that way. A loop
    around such a call then goes on as if never cancelled, and `cancel()` followed by a plain `gather()` waits
    forever: a service's shutdown hung. Here a task still running after `RECANCEL_SECONDS` is cancelled again.
    Exceptions the tasks ended with are retrieved (they were already logged where they matter), never raised.
    """
    pending: set[asyncio.Future[Any]] = set()
    for item in tasks:
        if isinstance(item, asyncio.Future):
            pending.add(item)
        elif item is not None:
            pending.update(task for task in item if task is not None)
    ended = {task for task in pending if task.done()}
    pending -= ended
    while pending:
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        ended |= done
    for task in ended:
        if not task.cancelled():
            with contextlib.suppress(BaseException):
                task.exception()
