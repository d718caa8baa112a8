"""Pages from the default theme, static files with content hashes, plugin template vars."""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol as Client

from streamforge.db.models import VideoStatus
from streamforge.runtime import Runtime
from tests.web.helpers import add_ready_video, add_video


async def test_library_lists_videos_with_status(client: Client, rt: Runtime) -> None:
    await add_ready_video(rt, title="Sunset <b>timelapse</b>")
    await add_video(rt, "procvid0001", VideoStatus.PROCESSING, progress=37.0)
    await add_video(rt, "failvid0001", VideoStatus.FAILED, error="decoder crashed")
    html = await (await client.get("/")).get_data(as_text=True)
    assert "Sunset &lt;b&gt;timelapse&lt;/b&gt;" in html  # escaped, never raw
    assert 'data-status="processing"' in html
    assert "37%" in html
    assert "decoder crashed" in html
    assert "/media/readyvid001/poster.jpg" in html


async def test_library_search(client: Client, rt: Runtime) -> None:
    await add_video(rt, "v1", VideoStatus.READY, title="Mountain bike")
    await add_video(rt, "v2", VideoStatus.READY, title="Sea kayak")
    html = await (await client.get("/?q=kayak")).get_data(as_text=True)
    assert "Sea kayak" in html
    assert "Mountain bike" not in html


async def test_video_page_plays_hls(client: Client, rt: Runtime) -> None:
    video_id = await add_ready_video(rt)
    html = await (await client.get(f"/v/{video_id}")).get_data(as_text=True)
    assert f'src="/media/{video_id}/hls/master.m3u8"' in html


async def test_unknown_video_page_is_a_themed_404(client: Client) -> None:
    response = await client.get("/v/nope")
    assert response.status_code == 404
    assert "<h1>404</h1>" in await response.get_data(as_text=True)


async def test_static_urls_carry_a_content_hash(client: Client) -> None:
    html = await (await client.get("/")).get_data(as_text=True)
    match = re.search(r'href="(/static/style\.css\?v=([0-9a-f]{12}))"', html)
    assert match, html
    response = await client.get(match.group(1))
    assert response.status_code == 200
    assert "immutable" in response.headers["Cache-Control"]
    unhashed = await client.get("/static/style.css")
    assert unhashed.headers["Cache-Control"] == "no-cache"
    assert (await client.get("/static/../theme.toml")).status_code == 404
    assert (await client.get("/static/%2e%2e/theme.toml")).status_code == 404
