"""Announcing lifecycle events: the event bus, the plugin hooks, the notifiers."""

from __future__ import annotations

import logging
from typing import Any

from streamforge.events import Event
from streamforge.plugins import call_hook
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)


async def announce(rt: Runtime, event: Event, hook: str | None = None, **hook_args: Any) -> None:
    """Publish ``event``, call ``hook`` (if any) and deliver it to interested notifiers.

    A failing plugin or notifier is logged and never affects the job or request.
    """
    rt.events.publish(event)
    if hook is not None:
        await call_hook(rt.registry.pm, hook, **hook_args)
    for notifier in rt.notifiers:
        if not notifier.wants(event["type"]):
            continue
        try:
            await notifier.notify(event)
        except Exception:
            log.exception("notifier %s failed on %s", notifier.name, event["type"])
