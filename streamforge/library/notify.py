"""Announcing lifecycle events: the notification outbox, the event bus, the plugin hooks."""

from __future__ import annotations

import logging
from typing import Any

from streamforge.events import Event, make_event, stable_event_id
from streamforge.library import outbox
from streamforge.library.serialize import video_to_dict, watch_url
from streamforge.library.videos import get_video
from streamforge.plugins import call_hook
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)


async def announce_uploaded(rt: Runtime, video_id: str) -> None:
    """``video.uploaded`` (the source is stored), then ``video.queued`` (its transcode is)."""
    async with rt.db.read() as s:
        video = video_to_dict(await get_video(s, video_id), rt.settings.public_url)
    # a video is uploaded once: a repeated completion announces the same event
    event_id = stable_event_id("video.uploaded", video_id)
    event = make_event("video.uploaded", video_id, event_id=event_id, video=video)
    await announce(rt, event, "video_uploaded", video=video)
    await announce(rt, make_event("video.queued", video_id, reason="uploaded", video=video))


async def announce_queued(rt: Runtime, video_id: str, *, reason: str) -> None:
    """``video.queued``: the video waits for a transcode again (``reason``: ``"retry"``
    after a failed attempt, ``"requeued"`` when an administrator retried it)."""
    async with rt.db.read() as s:
        try:
            video = video_to_dict(await get_video(s, video_id), rt.settings.public_url)
        except Exception:
            return  # deleted meanwhile
    await announce(rt, make_event("video.queued", video_id, reason=reason, video=video))


async def announce(rt: Runtime, event: Event, hook: str | None = None, **hook_args: Any) -> None:
    """Queue ``event`` for the notifiers that want it, publish it, and call ``hook``.

    Notifiers are not called here: the event goes to the notification outbox, which a
    dispatcher delivers from off the request and job path (see
    :mod:`streamforge.library.delivery`). Queuing comes before publishing, so a dispatcher
    woken by the published event finds its rows. A failing plugin hook or outbox write is
    logged and never affects the job or request.
    """
    if event["type"] != "video.deleted" and "url" not in event:
        # notifications are read away from the site: give them an absolute link
        event = {**event, "url": watch_url(rt.settings.listen_url, event["video_id"])}
    wanted = [n.name for n in rt.notifiers if n.wants(event["type"])]
    if wanted:
        try:
            await outbox.enqueue(rt.db, event, wanted)
        except Exception:
            log.exception("could not queue %s %s for notifiers", event["type"], event["id"])
    rt.events.publish(event)
    if hook is not None:
        await call_hook(rt.registry.pm, hook, **hook_args)
