"""The notifier plugin API.

A notifier plugin returns ``Notifier`` subclasses from ``register_notifiers``. Those named in
``[notifiers] enabled`` are instantiated with their table ``[notifiers.<name>]`` and called
off the request path for the events they subscribe to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import field_validator

from streamforge.config import PluginConfig

#: The lifecycle events a notifier can subscribe to.
LIFECYCLE_EVENTS = frozenset({"video.uploaded", "video.ready", "video.failed", "video.deleted"})


class NotifierConfig(PluginConfig):
    """A notifier ``Config`` base that lets users choose the events (``events = [...]``)."""

    #: Event types to deliver; unset: the notifier's own default (its ``events``).
    events: list[str] | None = None

    @field_validator("events")
    @classmethod
    def _lifecycle_only(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if name not in LIFECYCLE_EVENTS:
                known = ", ".join(sorted(LIFECYCLE_EVENTS))
                raise ValueError(f"{name!r} is not a lifecycle event (one of {known})")
        return value


class Notifier(ABC):
    """Base class of notifiers: deliver one event somewhere (a log, a webhook, a phone)."""

    name: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    #: Event types delivered to :meth:`notify`; by default ready and failed videos.
    events: ClassVar[frozenset[str]] = frozenset({"video.ready", "video.failed"})

    def __init__(self, config: PluginConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def wants(self, event_type: str) -> bool:
        """Whether this notifier should receive events of ``event_type``: those in its
        config's ``events`` (a :class:`NotifierConfig`) when set, else :attr:`events`."""
        if isinstance(self.config, NotifierConfig) and self.config.events is not None:
            return event_type in self.config.events
        return event_type in self.events

    @abstractmethod
    async def notify(self, event: dict[str, Any]) -> None:
        """Deliver one event. Called by the notification dispatcher, never on the request
        or job path, within ``[notifiers] timeout`` seconds.

        Raise :class:`~streamforge.errors.NotifierError` for a failure worth retrying
        (network trouble, a busy server) and :class:`~streamforge.errors.DeliveryRefused`
        for one that retrying cannot fix; any other exception is logged with its trace and
        retried. An event may, rarely, be delivered twice (a process died after
        delivering it): its ``id`` tells a repeat.

        :param event: ``{"type": "video.ready", "id": ..., "time": ..., "video_id": ...,
            "video": {...}}`` — see docs/events.md.
        """


@dataclass(frozen=True)
class Summary:
    """An event put into words for people: a title line and a short text."""

    title: str
    text: str


def summarize(event: dict[str, Any]) -> Summary:
    """Words for a lifecycle event, for notifiers that write to people (email, push)."""
    video = event.get("video") or {}
    name = video.get("title") or event.get("video_id", "?")
    kind = event.get("type")
    if kind == "video.ready":
        return Summary(f"Video ready: {name}", f"“{name}” is ready to watch.")
    if kind == "video.failed":
        more = "" if event.get("final", True) else " It will be tried again."
        error = str(event.get("error") or "unknown error").rstrip(".")
        return Summary(f"Video failed: {name}", f"“{name}” could not be processed: {error}.{more}")
    if kind == "video.uploaded":
        return Summary(f"Video uploaded: {name}", f"“{name}” was uploaded and is being processed.")
    if kind == "video.deleted":
        return Summary("Video deleted", f"Video {event.get('video_id')} was deleted.")
    return Summary(f"{kind}: {name}", f"{kind} for “{name}”.")
