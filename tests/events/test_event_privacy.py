"""Live events reach only those who may see the video: through the app's test client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart import Quart
from quart.testing import WebsocketResponseError

from streamforge.db.models import Privacy, Role, VideoStatus
from streamforge.events import make_event
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.web.helpers import add_video


async def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.receive())
    return message


async def progress_seen(ws: Any, rt: Runtime, video_ids: list[str]) -> list[str]:
    """Publish a progress event for each video, then a marker of a public one; which came."""
    for video_id in video_ids:
        rt.events.publish(make_event("video.progress", video_id, percent=1.0))
    rt.events.publish(make_event("video.progress", "marker00001", percent=1.0))
    seen = []
    while True:
        event = await asyncio.wait_for(receive(ws), 10)
        if event["video_id"] == "marker00001":
            return seen
        seen.append(event["video_id"])


@pytest.fixture
async def videos(rt: Runtime) -> dict[str, str]:
    owner, _ = await make_account(rt.db, "owner", Role.UPLOADER)
    made = {}
    for privacy in Privacy:
        video_id = f"{privacy.value[:4]}video01"[:11]
        await add_video(rt, video_id, VideoStatus.READY, privacy=privacy, owner_id=owner.id)
        made[privacy.value] = video_id
    # unfinished, so every connection's first message is its snapshot: the handler listens
    await add_video(rt, "marker00001", VideoStatus.PROCESSING)
    return made


async def connected(ws: Any) -> Any:
    assert (await receive(ws))["video_id"] == "marker00001"
    return ws


async def test_anonymous_clients_get_listed_videos_only(
    app: Quart, rt: Runtime, videos: dict[str, str]
) -> None:
    async with app.test_client().websocket("/api/v1/events") as ws:
        await connected(ws)
        seen = await progress_seen(ws, rt, list(videos.values()))
        assert seen == [videos["public"]]
        # the link to an unlisted video lets a client follow that one video
        await ws.send(json.dumps({"type": "subscribe", "video_id": videos["unlisted"]}))
        assert (await receive(ws))["video"]["privacy"] == "unlisted"  # its snapshot
        rt.events.publish(make_event("video.progress", videos["unlisted"], percent=5.0))
        assert (await receive(ws))["percent"] == 5.0
        # but not a private one: no snapshot, no events
        await ws.send(json.dumps({"type": "subscribe", "video_id": videos["private"]}))
        rt.events.publish(make_event("video.progress", videos["private"], percent=6.0))
        await ws.send(json.dumps({"type": "subscribe", "video_id": "marker00001"}))
        assert (await receive(ws))["video_id"] == "marker00001"


async def test_owners_and_admins_get_their_private_videos(
    app: Quart, rt: Runtime, videos: dict[str, str]
) -> None:
    _, admin_token = await make_account(rt.db, "root", Role.ADMIN)
    owner_token = await _token_of(rt, "owner")
    for token in (owner_token, admin_token):
        headers = {"Authorization": f"Bearer {token}"}
        async with app.test_client().websocket("/api/v1/events", headers=headers) as ws:
            await connected(ws)
            seen = await progress_seen(ws, rt, list(videos.values()))
            assert sorted(seen) == sorted(videos.values())


async def test_a_video_made_private_stops_reaching_others(
    app: Quart, rt: Runtime, videos: dict[str, str]
) -> None:
    owner = bearer_client(app, await _token_of(rt, "owner"))
    async with app.test_client().websocket("/api/v1/events") as ws:
        await connected(ws)
        assert await progress_seen(ws, rt, [videos["public"]]) == [videos["public"]]
        patched = await owner.patch(
            f"/api/v1/videos/{videos['public']}", json={"privacy": "private"}
        )
        assert patched.status_code == 200
        assert await progress_seen(ws, rt, [videos["public"]]) == []


async def test_a_bad_token_on_the_handshake_is_refused(app: Quart) -> None:
    headers = {"Authorization": "Bearer sf_nonsense"}
    with pytest.raises(WebsocketResponseError) as refused:
        async with app.test_client().websocket("/api/v1/events", headers=headers) as ws:
            await ws.send(json.dumps({"type": "subscribe"}))
    assert refused.value.response.status_code == 401


async def _token_of(rt: Runtime, name: str) -> str:
    from streamforge.auth.tokens import create_token

    return (await create_token(rt.db, name)).token
