"""cancel_and_wait ends a task even when Python 3.11's wait_for swallowed the cancellation."""

from __future__ import annotations

import asyncio

from slipway.tasks import cancel_and_wait


async def test_a_task_that_swallowed_its_cancellation_is_cancelled_again_and_ended() -> None:
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[int] = loop.create_future()
    passed = asyncio.Event()

    async def poller() -> None:  # a status poller's shape: wait for a reply, then sleep until the next poll
        while True:
            await asyncio.wait_for(reply, 10)
            passed.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(poller())
    await asyncio.sleep(0.05)
    reply.set_result(1)  # the reply lands in the same turn as the cancellation: wait_for returns it instead
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert passed.is_set(), "the first cancellation was not swallowed: this test no longer shows the 3.11 defect"
    assert task.cancelled()


async def test_a_plain_cancel_of_the_same_task_leaves_it_running() -> None:
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[int] = loop.create_future()

    async def poller() -> None:
        while True:
            await asyncio.wait_for(reply, 10)
            await asyncio.sleep(3600)

    task = asyncio.create_task(poller())
    await asyncio.sleep(0.05)
    reply.set_result(1)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    assert not done  # what hung the logs service's shutdown: a gather() here never returns
    await cancel_and_wait(task)
    assert task.done()


async def test_none_iterables_finished_and_failed_tasks_are_accepted_and_nothing_is_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    finished = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    sleepers = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(3)]
    await cancel_and_wait(None, failed, finished, sleepers, (t for t in ()))
    assert failed.done() and finished.done() and all(t.cancelled() for t in sleepers)
