"""``/api/v1/events``: a WebSocket of ``video.*`` events.

A client that sends nothing receives every event. ``{"type": "subscribe", "video_id": ID}``
narrows the stream to one video (``{"type": "subscribe"}`` widens it again); every
subscribe is answered first with ``video.state`` snapshots of what it covers, so a page
that connects late misses nothing, then events follow as they happen. The server sends
``{"type": "ping"}`` every ``HEARTBEAT`` seconds. A client that falls too far behind is
disconnected (close code 1013) instead of slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from quart import Blueprint, websocket
from sqlalchemy import select

from streamforge.db.models import Privacy, Video, VideoStatus
from streamforge.events import Event, make_event
from streamforge.library.serialize import video_to_dict
from streamforge.runtime import Runtime
from streamforge.web.state import runtime

blueprint = Blueprint("events_ws", __name__)

HEARTBEAT = 20.0
MAX_BEHIND = 500  # events queued for one client before it is dropped
ACTIVE = (VideoStatus.UPLOADING, VideoStatus.QUEUED, VideoStatus.PROCESSING)
SNAPSHOT_LIMIT = 200


async def snapshot(rt: Runtime, video_id: str | None) -> list[Event]:
    """``video.state`` events: one video, or every unfinished public video."""
    async with rt.db.read() as s:
        if video_id is not None:
            found = await s.get(Video, video_id)
            videos = [found] if found is not None else []
        else:
            rows = await s.execute(
                select(Video)
                .where(Video.status.in_(ACTIVE), Video.privacy == Privacy.PUBLIC)
                .order_by(Video.created_at.desc())
                .limit(SNAPSHOT_LIMIT)
            )
            videos = list(rows.scalars().all())
        return [
            make_event("video.state", v.id, video=video_to_dict(v, rt.settings.public_url))
            for v in videos
        ]


def wanted(event: Event, video_id: str | None) -> bool:
    return video_id is None or event.get("video_id") == video_id


@blueprint.websocket("/api/v1/events")
async def events() -> None:
    rt = runtime()
    state: dict[str, Any] = {"video_id": None}
    outgoing: asyncio.Queue[Event | None] = asyncio.Queue()

    async def pump_bus() -> None:
        # subscribe before any snapshot is taken, so nothing falls between the two
        async for event in rt.events.subscribe(max_queue=MAX_BEHIND):
            if wanted(event, state["video_id"]):
                outgoing.put_nowait(event)
        outgoing.put_nowait(None)  # the bus dropped us: too slow

    async def read_client() -> None:
        while True:
            raw = await websocket.receive()
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                outgoing.put_nowait({"type": "error", "message": "messages must be JSON"})
                continue
            if isinstance(message, dict) and message.get("type") == "subscribe":
                video_id = message.get("video_id")
                state["video_id"] = str(video_id) if video_id else None
                for event in await snapshot(rt, state["video_id"]):
                    outgoing.put_nowait(event)
            elif isinstance(message, dict) and message.get("type") == "pong":
                continue
            else:
                outgoing.put_nowait({"type": "error", "message": "unknown message"})

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            outgoing.put_nowait({"type": "ping"})

    await websocket.accept()
    tasks = [asyncio.create_task(t) for t in (pump_bus(), read_client(), heartbeat())]
    try:
        await asyncio.sleep(0)  # let the bus subscription register first
        for state_event in await snapshot(rt, None):
            outgoing.put_nowait(state_event)
        while True:
            if outgoing.qsize() > MAX_BEHIND:
                await websocket.close(1013, "too slow: reconnect")
                return
            event = await outgoing.get()
            if event is None:
                await websocket.close(1013, "too slow: reconnect")
                return
            await websocket.send(json.dumps(event, default=str))
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
