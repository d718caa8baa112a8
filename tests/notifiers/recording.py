"""A test notifier plugin (loaded through ``STREAMFORGE_PLUGINS``): records what it is
given and fails on demand, as its ``[notifiers.recording]`` table says."""

from __future__ import annotations

import asyncio
from typing import Any

from streamforge.errors import DeliveryRefused, NotifierError
from streamforge.hookspecs import hookimpl
from streamforge.notifiers import LIFECYCLE_EVENTS, Notifier, NotifierConfig


class RecordingConfig(NotifierConfig):
    #: Raise NotifierError on the first this many calls.
    fail_times: int = 0
    #: Raise DeliveryRefused on every call.
    refuse: bool = False
    #: Raise a plain exception (a notifier bug) on every call.
    crash: bool = False
    #: Never return.
    hang: bool = False
    #: Seconds each call takes.
    delay: float = 0


class RecordingNotifier(Notifier):
    name = "recording"
    Config = RecordingConfig
    events = LIFECYCLE_EVENTS

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.calls: list[dict[str, Any]] = []
        self.called = asyncio.Event()

    async def notify(self, event: dict[str, Any]) -> None:
        cfg = self.config
        assert isinstance(cfg, RecordingConfig)
        self.calls.append(event)
        self.called.set()
        if cfg.hang:
            await asyncio.Event().wait()
        if cfg.delay:
            await asyncio.sleep(cfg.delay)  # a slow receiver
        if cfg.crash:
            raise KeyError("bug in a plugin")
        if cfg.refuse:
            raise DeliveryRefused("this can never work")
        if len(self.calls) <= cfg.fail_times:
            raise NotifierError(f"try {len(self.calls)} failed")


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [RecordingNotifier]
