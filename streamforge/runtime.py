"""The services one process needs, built from the settings: plugins, database, storage, bus.

The web app, the CLI and every job-runner thread each hold a ``Runtime``. Services receive
what they need from it explicitly; nothing reaches for globals.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from streamforge.config import Settings
from streamforge.db.session import Database
from streamforge.events import EventBus, LocalEventBus, RedisEventBus
from streamforge.plugins import Registry, call_hook
from streamforge.storage import StorageBackend

log = logging.getLogger(__name__)

#: One bus per process, shared by the web app and the job runner threads.
_buses: dict[str, EventBus] = {}
_buses_lock = threading.Lock()


def process_event_bus(settings: Settings) -> EventBus:
    """The event bus this process publishes to and subscribes from: Redis pub/sub when the
    broker is Redis (so events cross machines), else in-process."""
    url = settings.broker.url
    redis_url = url if url.startswith(("redis://", "rediss://")) else ""
    channel = f"{settings.broker.namespace}:events"
    key = f"{redis_url} {channel}" if redis_url else ""
    with _buses_lock:
        if key not in _buses:
            bus = RedisEventBus(redis_url, channel=channel) if redis_url else LocalEventBus()
            _buses[key] = bus
        return _buses[key]


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    db: Database
    storage: StorageBackend
    events: EventBus
    notifiers: list[Any] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings, registry: Registry | None = None) -> Runtime:
        """Build the services (no I/O beyond creating folders); call :meth:`open` next."""
        registry = registry or Registry.build(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            registry=registry,
            db=Database.of(settings),
            storage=registry.storage(),
            events=process_event_bus(settings),
            notifiers=registry.notifier_instances(),
        )

    async def open(self, *, migrate: bool = True, startup_hook: bool = True) -> Runtime:
        if migrate:
            await self.db.migrate()
        if startup_hook:
            await call_hook(self.registry.pm, "startup", settings=self.settings)
        return self

    async def close(self) -> None:
        await self.storage.close()
        await self.db.close()
