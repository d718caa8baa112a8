"""Built-in notifier that writes lifecycle events to the log."""

from __future__ import annotations

import logging
from typing import Any, Literal

from streamforge.config import PluginConfig
from streamforge.hookspecs import hookimpl
from streamforge.notifiers import LIFECYCLE_EVENTS, Notifier

log = logging.getLogger("streamforge.notify")


class LogNotifierConfig(PluginConfig):
    """``[notifiers.log]``."""

    level: Literal["debug", "info", "warning"] = "info"


class LogNotifier(Notifier):
    """Logs every lifecycle event as one line."""

    name = "log"
    Config = LogNotifierConfig
    events = LIFECYCLE_EVENTS

    async def notify(self, event: dict[str, Any]) -> None:
        cfg = self.config
        assert isinstance(cfg, LogNotifierConfig)
        video = event.get("video") or {}
        detail = f" error={event['error']!r}" if event.get("error") else ""
        log.log(
            logging.getLevelName(cfg.level.upper()),
            "%s video=%s title=%r%s",
            event["type"],
            event.get("video_id"),
            video.get("title"),
            detail,
        )


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [LogNotifier]
