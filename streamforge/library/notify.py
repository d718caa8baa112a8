"""Announcing lifecycle events: the event bus, the plugin hooks, the notifiers."""

from __future__ import annotations

import logging
from typing import Any

from streamforge.events import Event
from streamforge.plugins import call_hook
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)


async def announce_uploaded(rt: Runtime, video_id: str) -> None:
    """``video.uploaded``: the source is stored and the transcode queued."""
    from streamforge.events import make_event
    from streamforge.library.serialize import video_to_dict
    from streamforge.library.videos import get_video

    async with rt.db.read() as s:
        video = video_to_dict(await get_video(s, video_id), rt.settings.public_url)
    await announce(
        rt, make_event("video.uploaded", video_id, video=video), "video_uploaded", video=video
    )


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
