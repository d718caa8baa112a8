"""The notifier plugin API.

A notifier plugin returns ``Notifier`` subclasses from ``register_notifiers``. Those named in
``[notifiers] enabled`` are instantiated with their table ``[notifiers.<name>]`` and called
off the request path for the events they subscribe to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from streamforge.config import PluginConfig

#: The lifecycle events a notifier can subscribe to.
LIFECYCLE_EVENTS = frozenset({"video.uploaded", "video.ready", "video.failed", "video.deleted"})


class Notifier(ABC):
    """Base class of notifiers: deliver one event somewhere (a log, a webhook, a phone)."""

    name: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    #: Event types delivered to :meth:`notify`; by default ready and failed videos.
    events: ClassVar[frozenset[str]] = frozenset({"video.ready", "video.failed"})

    def __init__(self, config: PluginConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def wants(self, event_type: str) -> bool:
        """Whether this notifier should receive events of ``event_type``."""
        return event_type in self.events

    @abstractmethod
    async def notify(self, event: dict[str, Any]) -> None:
        """Deliver one event. Raise to signal a failed delivery (it may be retried).

        :param event: ``{"type": "video.ready", "id": ..., "time": ..., "video_id": ...,
            "video": {...}}`` — see docs/events.md.
        """
