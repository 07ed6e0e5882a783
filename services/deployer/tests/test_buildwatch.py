"""Build outcome events wake the deployer's waiters (real NATS): no polling while a build runs."""

from __future__ import annotations

import asyncio
import uuid

import nats

from deployer.buildwatch import BuildWatch
from slipway.contracts import Subjects
from slipway.events import Envelope
from slipway.natsconn import NatsConnection
from slipway_stack.testing import wait_until


async def test_a_build_event_wakes_its_waiter_and_no_other(nats_server) -> None:  # type: ignore[no-untyped-def]
    conn = NatsConnection(nats_server.url, "deployer-test")
    await conn.start()
    await conn.wait_connected(10)
    watch = BuildWatch(conn)
    await watch.start()
    publisher = await nats.connect(nats_server.url)
    try:
        await wait_until(lambda: len(watch._subs) == 3, timeout=10, message="the watch never subscribed")
        mine, other, early = (str(uuid.uuid4()) for _ in range(3))

        async def publish(subject: str, build_id: str) -> None:
            envelope = Envelope(type=subject, source="builder", resource_id=build_id, payload={})
            await publisher.publish(subject, envelope.model_dump_json().encode())
            await publisher.flush()

        waiting = asyncio.create_task(watch.wait(mine, timeout=30))
        other_wait = asyncio.create_task(watch.wait(other, timeout=1.5))
        await asyncio.sleep(0.1)
        await publish(Subjects.BUILD_FAILED, mine)
        assert await asyncio.wait_for(waiting, 10) is True  # woken by the event, long before its 30 s
        assert await other_wait is False  # another build's event wakes nobody else

        await publish(Subjects.BUILD_CANCELED, early)  # the outcome came before anyone waited
        await wait_until(lambda: early in watch._finished, timeout=10, message="the early event was lost")
        assert await watch.wait(early, timeout=0.1) is True
        watch.forget(early)
        assert await watch.wait(early, timeout=0.1) is False
    finally:
        await publisher.close()
        await watch.stop()
        await conn.close()
