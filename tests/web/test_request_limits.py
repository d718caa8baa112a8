"""Request size limits: ``[server] max_request_bytes`` for every body but upload data, and
the WebSocket message limit of a real server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from quart.typing import TestClientProtocol as Client

from streamforge.config import Settings, load_settings
from streamforge.db.models import Video
from streamforge.errors import ConfigError
from streamforge.runtime import Runtime
from streamforge.server import WEBSOCKET_MAX_MESSAGE
from tests.conftest import make_settings
from tests.e2e.cli import running_server, write_config
from tests.uploads.helpers import OFFSET_STREAM, create, error_of, head, patch
from tests.web.helpers import add_ready_video

LIMIT = 4096


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, STREAMFORGE_SERVER__MAX_REQUEST_BYTES=str(LIMIT))


async def title_of(rt: Runtime, video_id: str) -> tuple[str, str]:
    async with rt.db.read() as s:
        video = await s.get(Video, video_id)
        assert video is not None
        return video.title, video.description


async def test_a_json_body_over_the_limit_is_a_413_and_changes_nothing(
    client: Client, rt: Runtime
) -> None:
    video_id = await add_ready_video(rt)
    before = await title_of(rt, video_id)
    body = {"title": "new title", "description": "x" * (LIMIT + 10)}
    response = await client.patch(f"/api/v1/videos/{video_id}", json=body)
    assert response.status_code == 413
    error = await error_of(response)
    assert error["code"] == "request_too_large"
    assert f"larger than {LIMIT} bytes" in error["message"]
    assert "max_request_bytes" in error["message"]
    assert await title_of(rt, video_id) == before

    # under the limit, the same route works
    body["description"] = "x" * (LIMIT // 2)
    response = await client.patch(f"/api/v1/videos/{video_id}", json=body)
    assert response.status_code == 200
    assert await title_of(rt, video_id) == ("new title", body["description"])


async def test_a_streamed_body_without_content_length_is_cut_off(
    client: Client, rt: Runtime
) -> None:
    """No Content-Length to refuse up front: the body is read up to the limit, not past."""
    video_id = await add_ready_video(rt)
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    path = f"/api/v1/videos/{video_id}"
    async with client.request(path, method="PATCH", headers=headers) as connection:
        await connection.send(b'{"title": "streamed", "description": "')
        for _ in range(4):
            await connection.send(b"y" * (LIMIT // 2))
        await connection.send(b'"}')
        await connection.send_complete()
    response = await connection.as_response()
    assert response.status_code == 413
    assert (await error_of(response))["code"] == "request_too_large"
    assert (await title_of(rt, video_id))[0] == "A ready video"


async def test_a_page_form_over_the_limit_is_a_413_page(anon: Client) -> None:
    response = await anon.post("/login", form={"name": "n", "password": "p" * (LIMIT * 2)})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert f"larger than {LIMIT} bytes" in await response.get_data(as_text=True)


async def test_tus_chunks_keep_their_own_limits(client: Client, rt: Runtime) -> None:
    chunk = b"v" * (LIMIT * 16)
    path = await create(client, len(chunk) * 2)
    assert (await patch(client, path, 0, chunk)).status_code == 204
    # also streamed, without Content-Length
    headers = {**OFFSET_STREAM, "Upload-Offset": str(len(chunk)), "Transfer-Encoding": "chunked"}
    async with client.request(path, method="PATCH", headers=headers) as connection:
        for part in range(4):
            await connection.send(chunk[part * LIMIT * 4 : (part + 1) * LIMIT * 4])
        await connection.send_complete()
    assert (await connection.as_response()).status_code == 204
    assert (await head(client, path)).headers["Upload-Offset"] == str(len(chunk) * 2)


def test_max_request_bytes_is_validated() -> None:
    assert load_settings(None, environ={}).server.max_request_bytes == 1024 * 1024
    with pytest.raises(ConfigError) as error:
        load_settings(None, environ={"STREAMFORGE_SERVER__MAX_REQUEST_BYTES": "100"})
    assert "STREAMFORGE_SERVER__MAX_REQUEST_BYTES: [server] max_request_bytes" in str(error.value)


async def test_a_real_server_closes_a_websocket_that_sends_a_huge_message(
    tmp_path: Path,
) -> None:
    with running_server(write_config(tmp_path)) as server:
        url = server.url.replace("http://", "ws://") + "/api/v1/events"
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url, headers=server.auth) as ws:
                await ws.send_json({"type": "subscribe", "video_id": "nosuchvideo"})
                await ws.send_json({"type": "pong"})
                await ws.send_str(json.dumps({"type": "x", "pad": "z" * WEBSOCKET_MAX_MESSAGE}))
                closed = await ws.receive(timeout=30)
                while closed.type == aiohttp.WSMsgType.TEXT:  # (a ping or an error may come first)
                    closed = await ws.receive(timeout=30)
                assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closed
                assert ws.close_code == 1009  # message too big
            # a well-behaved client is still served
            async with http.ws_connect(url, headers=server.auth) as ws:
                await ws.send_json({"type": "hello"})
                reply = await asyncio.wait_for(ws.receive_json(), 30)
                assert reply == {"type": "error", "message": "unknown message"}
