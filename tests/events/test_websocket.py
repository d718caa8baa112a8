"""The events WebSocket through the app's own test client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from quart import Quart
from quart.testing import WebsocketResponseError

from streamforge.db.models import Privacy, VideoStatus
from streamforge.events import make_event
from streamforge.runtime import Runtime
from tests.web.helpers import add_video


async def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.receive())
    return message


async def test_snapshot_then_live_events(app: Quart, rt: Runtime) -> None:
    await add_video(rt, "busyvid0001", VideoStatus.PROCESSING, progress=12.0)
    await add_video(rt, "donevid0001", VideoStatus.READY)
    await add_video(rt, "privvid0001", VideoStatus.PROCESSING, privacy=Privacy.PRIVATE)
    async with app.test_client().websocket("/api/v1/events") as ws:
        state = await receive(ws)
        assert state["type"] == "video.state"
        assert state["video_id"] == "busyvid0001"  # unfinished public videos only
        assert state["video"]["progress"] == 12.0
        rt.events.publish(make_event("video.progress", "busyvid0001", percent=50.0))
        event = await receive(ws)
        assert (event["type"], event["percent"]) == ("video.progress", 50.0)
        assert {"id", "time", "video_id"} <= set(event)


async def test_subscribe_narrows_to_one_video(app: Quart, rt: Runtime) -> None:
    await add_video(rt, "onevid00001", VideoStatus.QUEUED)
    await add_video(rt, "othervid001", VideoStatus.QUEUED)
    async with app.test_client().websocket("/api/v1/events") as ws:
        await receive(ws)
        await receive(ws)  # the two snapshots of the unfiltered connection
        await ws.send(json.dumps({"type": "subscribe", "video_id": "onevid00001"}))
        state = await receive(ws)
        assert (state["type"], state["video_id"]) == ("video.state", "onevid00001")
        rt.events.publish(make_event("video.progress", "othervid001", percent=1.0))
        rt.events.publish(make_event("video.progress", "onevid00001", percent=2.0))
        event = await receive(ws)
        assert (event["video_id"], event["percent"]) == ("onevid00001", 2.0)


async def test_bad_messages_get_an_error_not_a_disconnect(app: Quart, rt: Runtime) -> None:
    await add_video(rt, "gonevideo01", VideoStatus.QUEUED)
    async with app.test_client().websocket("/api/v1/events") as ws:
        assert (await receive(ws))["video_id"] == "gonevideo01"  # its snapshot
        await ws.send("not json")
        assert await receive(ws) == {"type": "error", "message": "messages must be JSON"}
        await ws.send(json.dumps({"type": "dance"}))
        assert await receive(ws) == {"type": "error", "message": "unknown message"}
        rt.events.publish(make_event("video.deleted", "gonevideo01"))
        assert (await receive(ws))["type"] == "video.deleted"


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://localhost.evil.example", "null", "http://localhost:1"],
)
async def test_a_websocket_from_another_site_is_refused(app: Quart, origin: str) -> None:
    with pytest.raises(WebsocketResponseError) as refused:
        async with app.test_client().websocket("/api/v1/events", headers={"Origin": origin}) as ws:
            await ws.send(json.dumps({"type": "subscribe"}))
    assert refused.value.response.status_code == 403


async def test_same_site_and_non_browser_websockets_are_accepted(app: Quart, rt: Runtime) -> None:
    await add_video(rt, "samesite001", VideoStatus.PROCESSING)
    for headers in ({"Origin": "http://localhost"}, {"Origin": "http://LOCALHOST/"}, {}):
        async with app.test_client().websocket("/api/v1/events", headers=headers) as ws:
            await ws.send(json.dumps({"type": "subscribe", "video_id": "samesite001"}))
            state = await receive(ws)
            assert (state["type"], state["video_id"]) == ("video.state", "samesite001")
