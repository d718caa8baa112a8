"""The event bus: ``video.*`` events from jobs and the API to WebSocket clients and notifiers.

Embedded mode uses :class:`LocalEventBus`, which is thread-safe (job runners publish from
worker threads; subscribers live on the web server's event loop). Scale-out uses Redis
pub/sub so an event published on a worker machine reaches every web node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]
log = logging.getLogger(__name__)


#: Namespace of the stable event ids made by :func:`stable_event_id`.
EVENT_ID_NAMESPACE = uuid.UUID("7d1f2c64-5a0e-4d8e-9a57-3f5b8c1e9d20")


def stable_event_id(*parts: str) -> str:
    """An event id that is the same whenever it is made from the same ``parts``.

    Lifecycle events that can only happen once per thing (a job's success, one attempt's
    failure, a video's upload) use one, so announcing such an event twice is recognisably
    one event: the notification outbox delivers it once.
    """
    return uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(parts)).hex


def make_event(type_: str, video_id: str, *, event_id: str | None = None, **data: Any) -> Event:
    """An event with the common fields: ``type``, ``id``, ``time`` and ``video_id``.

    ``event_id`` defaults to a random id; see :func:`stable_event_id`.
    """
    return {
        "type": type_,
        "id": event_id or uuid.uuid4().hex,
        "time": datetime.now(UTC).isoformat(),
        "video_id": video_id,
        **data,
    }


class EventBus(ABC):
    """Publish events; listen to, or subscribe to, every event published from now on."""

    @abstractmethod
    def publish(self, event: Event) -> None:
        """Publish one event. Safe to call from any thread; never blocks for long."""

    @abstractmethod
    def listen(self, deliver: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``deliver(event)`` for every event published from now on, on the event
        loop that called ``listen``, until the returned function is called.

        ``deliver`` runs once per event for every listener, so it must be quick and never
        block; a listener that needs to await does so on its own queue (see
        :meth:`subscribe`). All listeners share the same event object: never modify it.
        """

    async def subscribe(self, max_queue: int = 1000) -> AsyncIterator[Event]:
        """Yield events as they are published, on the caller's event loop.

        A subscriber that falls ``max_queue`` events behind is dropped (its iterator
        ends) rather than slowing everyone else.
        """
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        dropped = False

        def deliver(event: Event) -> None:
            nonlocal dropped
            if dropped:
                return
            if queue.qsize() >= max_queue:
                dropped = True
                queue.put_nowait(None)
                return
            queue.put_nowait(event)

        stop_listening = self.listen(deliver)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            stop_listening()

    async def close(self) -> None:
        return None


@dataclass(frozen=True, eq=False)
class _Listener:
    loop: asyncio.AbstractEventLoop
    deliver: Callable[[Event], None]


def _deliver_all(listeners: list[_Listener], event: Event) -> None:
    for listener in listeners:
        try:
            listener.deliver(event)
        except Exception:
            log.exception("an event listener failed on %s", event.get("type"))


class LocalEventBus(EventBus):
    """In-process bus for the embedded mode."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[_Listener] = set()

    def publish(self, event: Event) -> None:
        # One wake-up per event loop, not one per listener: a web node with a thousand
        # browsers listening would otherwise pay a thousand self-pipe writes per event.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Listener]] = {}
        with self._lock:
            for listener in self._listeners:
                by_loop.setdefault(listener.loop, []).append(listener)
        for loop, listeners in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver_all, listeners, event)
            except RuntimeError:  # that loop is closed
                with self._lock:
                    self._listeners.difference_update(listeners)

    def listen(self, deliver: Callable[[Event], None]) -> Callable[[], None]:
        listener = _Listener(asyncio.get_running_loop(), deliver)
        with self._lock:
            self._listeners.add(listener)

        def stop() -> None:
            with self._lock:
                self._listeners.discard(listener)

        return stop


class RedisEventBus(EventBus):
    """Redis pub/sub, so events cross machines: a worker's progress reaches every web node.

    ``publish`` never blocks its caller: events go through a queue to a background thread
    that owns the Redis connections. The same thread reads the channel and fans events out
    to this process's subscribers through a :class:`LocalEventBus`.
    """

    CHANNEL = "streamforge:events"

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self._local = LocalEventBus()
        # Filled from any thread by publish(); drained by the bus thread's loop. (Not an
        # executor blocking on a queue.get(): interpreter exit joins executor threads.)
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="redis-events", daemon=True)
        self._thread.start()
        # Subscribers must not miss events published right after start-up.
        self._ready.wait(5)

    def publish(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the bus thread has stopped
                loop.call_soon_threadsafe(wake.set)

    def listen(self, deliver: Callable[[Event], None]) -> Callable[[], None]:
        return self._local.listen(deliver)

    async def close(self) -> None:
        self.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Send what is pending, then stop the bus thread."""
        if not self._stopped:
            self._stopped = True
            with self._lock:
                loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(wake.set)
            self._thread.join(5)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        import redis.asyncio as aioredis

        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            if self._pending:
                self._wake.set()
        while not self._stopped:
            client = aioredis.from_url(self.url)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                self._ready.set()
                sender = asyncio.create_task(self._send(client))
                try:
                    while not self._stopped and not sender.done():
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=0.5
                        )
                        if message is not None:
                            self._local.publish(json.loads(message["data"]))
                finally:
                    if self.stopped:  # let the sender flush what is pending
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(asyncio.shield(sender), 5)
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await sender
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except Exception:
                log.warning("redis event bus: connection lost; reconnecting", exc_info=True)
                self._ready.set()
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    async def _send(self, client: Any) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, []
            for event in batch:
                await client.publish(self.channel, json.dumps(event, default=str))
            if self._stopped:
                return
