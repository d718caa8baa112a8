"""The Redis event bus: an event published by one process reaches subscribers of another."""

from __future__ import annotations

import asyncio
import sys
import uuid

from streamforge.events import RedisEventBus, make_event


async def test_event_from_another_process_reaches_a_subscriber(redis_url: str) -> None:
    channel = f"streamforge:test:{uuid.uuid4().hex}"
    bus = RedisEventBus(redis_url, channel=channel)
    try:
        events = bus.subscribe()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        code = (
            "import time; from streamforge.events import RedisEventBus, make_event\n"
            f"bus = RedisEventBus({redis_url!r}, channel={channel!r})\n"
            "bus.publish(make_event('video.ready', 'fromworker1', video={'id': 'fromworker1'}))\n"
            "bus.stop()\n"
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        assert await proc.wait() == 0
        event = await asyncio.wait_for(first, 10)
        assert (event["type"], event["video_id"]) == ("video.ready", "fromworker1")
        await events.aclose()  # type: ignore[attr-defined]
    finally:
        bus.stop()


async def test_publish_is_delivered_to_local_subscribers_too(redis_url: str) -> None:
    bus = RedisEventBus(redis_url, channel=f"streamforge:test:{uuid.uuid4().hex}")
    try:
        events = bus.subscribe()
        nxt = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        bus.publish(make_event("video.progress", "v", percent=3.0))
        assert (await asyncio.wait_for(nxt, 10))["percent"] == 3.0
        await events.aclose()  # type: ignore[attr-defined]
    finally:
        bus.stop()


async def test_a_process_with_the_bus_exits_without_stopping_it(redis_url: str) -> None:
    # regression: an executor thread blocked on the outbox made interpreter exit hang
    code = (
        "from streamforge.events import RedisEventBus, make_event\n"
        f"bus = RedisEventBus({redis_url!r}, channel='streamforge:test:exit')\n"
        "bus.publish(make_event('video.progress', 'v', percent=1.0))\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
