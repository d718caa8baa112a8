"""``/api/v1/events``: a WebSocket of ``video.*`` events.

A client that sends nothing receives every event. ``{"type": "subscribe", "video_id": ID}``
narrows the stream to one video (``{"type": "subscribe"}`` widens it again); every
subscribe is answered first with ``video.state`` snapshots of what it covers, so a page
that connects late misses nothing, then events follow as they happen. The server sends
``{"type": "ping"}`` every ``HEARTBEAT`` seconds. A client that falls too far behind is
disconnected (close code 1013) instead of slowing the others or filling the server's
memory: it has ``MAX_BEHIND`` events queued, or one message waited over ``SEND_TIMEOUT`` s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, Response, websocket
from sqlalchemy import select

from streamforge.auth.accounts import Account
from streamforge.config import Settings
from streamforge.db.models import Privacy, Video, VideoStatus
from streamforge.errors import AuthenticationFailed
from streamforge.events import Event, make_event
from streamforge.library.serialize import video_to_dict
from streamforge.metrics import WEBSOCKET_CLIENTS
from streamforge.runtime import Runtime
from streamforge.web.auth import current_account
from streamforge.web.event_access import Facts, VideoFacts, may_receive
from streamforge.web.state import app_state, runtime

blueprint = Blueprint("events_ws", __name__)

HEARTBEAT = 20.0
MAX_BEHIND = 500  # events queued for one client before it is dropped
SEND_TIMEOUT = 10.0  # seconds one message may wait for a client's socket
ACTIVE = (VideoStatus.UPLOADING, VideoStatus.QUEUED, VideoStatus.PROCESSING)
SNAPSHOT_LIMIT = 200


async def snapshot(rt: Runtime, video_id: str | None, viewer: Account | None) -> list[Event]:
    """``video.state`` events: one video, or every unfinished public video, each only if
    ``viewer`` may receive its events."""
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
            if may_receive(
                viewer,
                Facts(v.owner_id, v.privacy),
                rt.settings,
                video_id=v.id,
                subscribed_to=video_id,
            )
        ]


def video_facts() -> VideoFacts:
    state = app_state()
    if state.video_facts is None:
        state.video_facts = VideoFacts(runtime().db)
    return state.video_facts


#: The last events encoded, by identity: the bus hands every client the same event object,
#: so one event is encoded once, not once per client.
_encoded: deque[tuple[Event, str]] = deque(maxlen=16)


def encode(event: Event) -> str:
    for seen, text in _encoded:
        if seen is event:
            return text
    text = json.dumps(event, default=str)
    _encoded.append((event, text))
    return text


def wanted(event: Event, video_id: str | None) -> bool:
    return video_id is None or event.get("video_id") == video_id


def foreign_origin(origin: str | None, settings: Settings) -> bool:
    """True when a browser on another site opened this WebSocket.

    Browsers send ``Origin`` on every WebSocket handshake and no CORS check applies to
    WebSockets, so without this any page could read a visitor's events with their cookie.
    Same-origin, the public URL's origin and listed CORS origins are allowed; clients that
    are not browsers send no Origin at all.
    """
    if origin is None:
        return False
    scheme = "https" if websocket.scheme in ("wss", "https") else "http"
    allowed = {f"{scheme}://{websocket.host}", *settings.server.cors_origins}
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/").lower() not in {a.lower() for a in allowed} and "*" not in allowed


@blueprint.websocket("/api/v1/events")
async def events() -> Response | None:
    rt = runtime()
    if foreign_origin(websocket.headers.get("Origin"), rt.settings):
        return Response("cross-origin WebSocket refused", 403, mimetype="text/plain")
    try:
        viewer = await current_account()  # the handshake's session cookie or API token
    except AuthenticationFailed as exc:
        return Response(str(exc), 401, mimetype="text/plain")
    state: dict[str, Any] = {"video_id": None}
    # Bounded: a client that cannot keep up is dropped, never buffered without limit.
    outgoing: asyncio.Queue[Event] = asyncio.Queue(maxsize=MAX_BEHIND)
    too_slow = asyncio.Event()

    def offer(event: Event) -> None:
        try:
            outgoing.put_nowait(event)
        except asyncio.QueueFull:
            too_slow.set()

    facts = video_facts()
    # Events waiting, in order, behind one whose video's owner and privacy are being read:
    # a client gets its events in the order they were published.
    backlog: deque[Event] = deque()
    drainer: list[asyncio.Task[None]] = []

    def deliver(event: Event, about: Facts | None) -> None:
        subscribed = state["video_id"]
        video_id = event["video_id"]
        if may_receive(viewer, about, rt.settings, video_id=video_id, subscribed_to=subscribed):
            offer(event)

    async def drain() -> None:
        while backlog:
            event = backlog[0]
            found, about = facts.known(event["video_id"])
            if not found:
                try:
                    about = await facts.read(event["video_id"])
                except Exception:
                    about = None  # unknown: nothing is sent
            backlog.popleft()
            deliver(event, about)

    def on_event(event: Event) -> None:  # the bus calls this for every event, per client
        facts.learn(event)  # even from events this client does not want
        video_id = event.get("video_id")
        if not isinstance(video_id, str) or not wanted(event, state["video_id"]):
            return
        if not backlog:
            found, about = facts.known(video_id)
            if found:
                deliver(event, about)
                return
        backlog.append(event)
        if not drainer or drainer[0].done():
            drainer[:] = [asyncio.create_task(drain())]

    async def read_client() -> None:
        while True:
            raw = await websocket.receive()
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                offer({"type": "error", "message": "messages must be JSON"})
                continue
            if isinstance(message, dict) and message.get("type") == "subscribe":
                video_id = message.get("video_id")
                state["video_id"] = str(video_id) if video_id else None
                for event in await snapshot(rt, state["video_id"], viewer):
                    facts.learn(event)
                    offer(event)
            elif isinstance(message, dict) and message.get("type") == "pong":
                continue
            else:
                offer({"type": "error", "message": "unknown message"})

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            offer({"type": "ping"})

    loop = asyncio.get_running_loop()
    sending_since: float | None = None

    async def send_events() -> None:
        # This runs per client per event: no timer or task per send. A send stuck on a
        # full socket is caught by watch_sends instead.
        nonlocal sending_since
        while True:
            event = await outgoing.get()
            sending_since = loop.time()
            await websocket.send(encode(event))
            sending_since = None

    async def watch_sends() -> None:
        while True:
            await asyncio.sleep(SEND_TIMEOUT / 2)
            if sending_since is not None and loop.time() - sending_since > SEND_TIMEOUT:
                too_slow.set()
                return

    # listen before accepting and before any snapshot is taken, so nothing falls between
    stop_listening = rt.events.listen(on_event)
    tasks: list[asyncio.Task[Any]] = []
    connected = False
    try:
        await websocket.accept()
        connected = True
        WEBSOCKET_CLIENTS.inc()
        tasks = [
            asyncio.create_task(t)
            for t in (read_client(), heartbeat(), send_events(), watch_sends(), too_slow.wait())
        ]
        for state_event in await snapshot(rt, None, viewer):
            facts.learn(state_event)
            offer(state_event)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if too_slow.is_set():
            stop_listening()
            sender = tasks[2]
            sender.cancel()  # a send stuck on a full socket must not hold the close back
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(websocket.close(1013, "too slow: reconnect"), 1.0)
    finally:
        if connected:
            WEBSOCKET_CLIENTS.dec()
        stop_listening()
        for task in [*tasks, *drainer]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return None
