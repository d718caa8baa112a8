"""Serving published files: Range, conditional requests, content types, refusals."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from streamforge.db.models import VideoStatus
from streamforge.runtime import Runtime
from tests.web.helpers import SEGMENT, add_ready_video, add_video

SEG = "hls/360p/seg_00000.m4s"


@pytest.fixture
async def video_id(rt: Runtime) -> str:
    return await add_ready_video(rt)


@pytest.mark.parametrize(
    ("rel", "ctype", "cache"),
    [
        ("hls/master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=10"),
        ("hls/360p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"),
        (SEG, "video/iso.segment", "public, max-age=31536000, immutable"),
        ("thumbs/thumbnails.vtt", "text/vtt; charset=utf-8", "public, max-age=10"),
        ("poster.jpg", "image/jpeg", "public, max-age=31536000, immutable"),
        ("hls/manifest.json", "application/json", "public, max-age=10"),
    ],
)
async def test_content_types_and_cache(
    client: Client, video_id: str, rel: str, ctype: str, cache: str
) -> None:
    response = await client.get(f"/media/{video_id}/{rel}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ctype
    assert response.headers["Cache-Control"] == cache


async def test_range_requests(client: Client, video_id: str) -> None:
    url = f"/media/{video_id}/{SEG}"
    full = await client.get(url)
    assert await full.get_data() == SEGMENT
    assert full.headers["Accept-Ranges"] == "bytes"
    part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(SEGMENT)}"
    assert await part.get_data() == SEGMENT[100:200]
    tail = await client.get(url, headers={"Range": "bytes=-10"})
    assert await tail.get_data() == SEGMENT[-10:]
    open_end = await client.get(url, headers={"Range": f"bytes={len(SEGMENT) - 3}-"})
    assert await open_end.get_data() == SEGMENT[-3:]
    beyond = await client.get(url, headers={"Range": f"bytes={len(SEGMENT)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(SEGMENT)}"
    multi = await client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == 200  # multiple ranges: the whole file
    assert await multi.get_data() == SEGMENT


async def test_conditional_requests(client: Client, video_id: str) -> None:
    url = f"/media/{video_id}/{SEG}"
    first = await client.get(url)
    etag = first.headers["ETag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    stale = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200


async def test_head(client: Client, video_id: str) -> None:
    # (Content-Length of HEAD is checked through real Hypercorn in tests/e2e; Quart's
    # test client recomputes it from the empty body.)
    response = await client.head(f"/media/{video_id}/{SEG}")
    assert response.status_code == 200
    assert response.headers["Accept-Ranges"] == "bytes"
    assert await response.get_data() == b""


async def test_not_ready_video_serves_nothing(client: Client, rt: Runtime) -> None:
    await add_video(rt, "halfdone001", VideoStatus.PROCESSING)
    await rt.storage.put_bytes("videos/halfdone001/hls/master.m3u8", b"#EXTM3U\n")
    response = await client.get("/media/halfdone001/hls/master.m3u8")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "source/original.mp4",
        "hls/../source/original.mp4",
        "hls/%2e%2e/source/original.mp4",
        "hls/%252e%252e/source/original.mp4",
        "hls/..%5csource%5coriginal.mp4",
        "%2fetc%2fpasswd",
        "hls/master.m3u8%00.jpg",
        "hls//master.m3u8",
    ],
)
async def test_traversal_and_originals_are_refused(
    client: Client, rt: Runtime, video_id: str, path: str
) -> None:
    await rt.storage.put_bytes(f"videos/{video_id}/source/original.mp4", b"ORIGINAL")
    response = await client.get(f"/media/{video_id}/{path}")
    assert response.status_code == 404
    assert b"ORIGINAL" not in await response.get_data()


async def test_traversal_in_video_id(client: Client, video_id: str) -> None:
    response = await client.get(f"/media/..%2f{video_id}/hls/master.m3u8")
    assert response.status_code == 404
