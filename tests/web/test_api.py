"""The JSON API through the app's own test client, on a real SQLite file."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from streamforge.db.models import Privacy, VideoStatus
from streamforge.runtime import Runtime
from tests.web.helpers import add_ready_video, add_video

VIDEO_FIELDS = {
    "id",
    "title",
    "status",
    "progress",
    "error",
    "privacy",
    "duration",
    "width",
    "height",
    "created_at",
    "renditions",
    "hls_url",
    "manifest_url",
    "thumbnails_url",
    "poster_url",
}


async def test_health(client: Client) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "ok"


async def test_ready_video_has_every_documented_field(client: Client, rt: Runtime) -> None:
    video_id = await add_ready_video(rt)
    response = await client.get(f"/api/v1/videos/{video_id}")
    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) >= VIDEO_FIELDS
    assert body["status"] == "ready"
    assert body["hls_url"] == f"/media/{video_id}/hls/master.m3u8"
    assert body["manifest_url"] == f"/media/{video_id}/hls/manifest.json"
    assert body["thumbnails_url"] == f"/media/{video_id}/thumbs/thumbnails.vtt"
    assert body["poster_url"] == f"/media/{video_id}/poster.jpg"
    assert body["renditions"] == [
        {
            "name": "360p",
            "width": 640,
            "height": 360,
            "bandwidth": 900_000,
            "average_bandwidth": 800_000,
            "codecs": "avc1.64001e,mp4a.40.2",
            "frame_rate": 30.0,
            "playlist_url": f"/media/{video_id}/hls/360p/playlist.m3u8",
        }
    ]


async def test_processing_video_has_no_media_urls(client: Client, rt: Runtime) -> None:
    await add_video(rt, "procvid0001", VideoStatus.PROCESSING, progress=42.0)
    body = await (await client.get("/api/v1/videos/procvid0001")).get_json()
    assert body["status"] == "processing"
    assert body["progress"] == 42.0
    assert body["hls_url"] is None
    assert body["renditions"] == []


async def test_unknown_video_is_a_json_404(client: Client) -> None:
    response = await client.get("/api/v1/videos/nope")
    assert response.status_code == 404
    assert await response.get_json() == {
        "error": {"status": 404, "code": "not_found", "message": "no video 'nope'"}
    }


async def test_list_search_sort_paginate(client: Client, rt: Runtime) -> None:
    await add_video(rt, "v1", VideoStatus.READY, title="Holiday in Rome")
    await add_video(rt, "v2", VideoStatus.QUEUED, title="Cat video", description="rome trip")
    await add_video(rt, "v3", VideoStatus.READY, title="Private", privacy=Privacy.PRIVATE)
    await add_video(rt, "v4", VideoStatus.READY, title="100% real_ness")
    body = await (await client.get("/api/v1/videos?q=rome&sort=title")).get_json()
    assert [v["id"] for v in body["items"]] == ["v2", "v1"]
    assert body["total"] == 2
    everything = await (await client.get("/api/v1/videos?limit=2")).get_json()
    assert everything["total"] == 3  # the private one is not listed
    assert len(everything["items"]) == 2
    # LIKE wildcards in the search are literal
    assert [
        v["id"] for v in (await (await client.get("/api/v1/videos?q=100%25")).get_json())["items"]
    ] == ["v4"]
    assert (await (await client.get("/api/v1/videos?q=_")).get_json())["total"] == 1


async def test_list_rejects_bad_query(client: Client) -> None:
    response = await client.get("/api/v1/videos?limit=1000")
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["details"][0]["field"] == "limit"


async def test_patch_validates_and_updates(client: Client, rt: Runtime) -> None:
    await add_video(rt, "v1", VideoStatus.READY, title="Old")
    response = await client.patch("/api/v1/videos/v1", json={"title": "  New   title "})
    assert response.status_code == 200
    assert (await response.get_json())["title"] == "New title"
    bad = await client.patch("/api/v1/videos/v1", json={"privacy": "secret"})
    assert bad.status_code == 400
    unknown = await client.patch("/api/v1/videos/v1", json={"owner": "me"})
    assert unknown.status_code == 400
    blank = await client.patch("/api/v1/videos/v1", json={"title": "   "})
    assert blank.status_code == 400
    assert (await blank.get_json())["error"]["message"] == "title must not be empty"


async def test_delete_removes_row_and_files(client: Client, rt: Runtime) -> None:
    video_id = await add_ready_video(rt)
    seg = f"/media/{video_id}/hls/360p/seg_00000.m4s"
    assert (await client.get(seg)).status_code == 200  # now remembered as ready
    response = await client.delete(f"/api/v1/videos/{video_id}")
    assert response.status_code == 200
    assert await rt.storage.list(f"videos/{video_id}/") == []
    assert (await client.get(seg)).status_code == 404
    assert (await client.get(f"/api/v1/videos/{video_id}")).status_code == 404
    assert (await client.delete(f"/api/v1/videos/{video_id}")).status_code == 404


async def test_openapi_and_docs_without_a_cdn(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert "/api/v1/videos/{video_id}" in spec["paths"]
    docs = await (await client.get("/docs")).get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower()
    asset = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(await asset.get_data()) > 100_000
    assert (await client.get("/docs/assets/..%2Fsecret")).status_code == 404
