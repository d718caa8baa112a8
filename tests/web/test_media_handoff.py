"""Handing media to a front server (X-Accel-Redirect, X-Sendfile) and to S3 (redirects)."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart

from streamforge.app import create_app
from streamforge.auth import media_links
from streamforge.auth.secret import load_secret_key
from streamforge.db.models import Privacy
from streamforge.runtime import Runtime
from streamforge.web.media import PRIVATE_REDIRECT_SECONDS
from streamforge.web.state import AppState
from tests.conftest import make_settings
from tests.s3server import s3_env, unique_bucket
from tests.web.helpers import FILES, SEGMENT, add_ready_video

SEG = "hls/360p/seg_00000.m4s"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


async def started(app: Quart) -> Runtime:
    state: AppState = app.extensions["streamforge"]
    assert state.runtime is not None
    return state.runtime


@pytest.fixture
async def nginx_app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(
        make_settings(tmp_path, STREAMFORGE_SERVER__SENDFILE="x-accel-redirect"), run_jobs=False
    )
    async with app.test_app():
        yield app


async def test_x_accel_redirect(nginx_app: Quart) -> None:
    rt = await started(nginx_app)
    video_id = await add_ready_video(rt)
    response = await nginx_app.test_client().get(f"/media/{video_id}/{SEG}")
    assert response.status_code == 200
    assert response.headers["X-Accel-Redirect"] == f"/internal-media/videos/{video_id}/{SEG}"
    assert response.headers["Content-Type"] == "video/iso.segment"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert await response.get_data() == b""
    # the checks still happen here: originals and unknown videos are refused
    assert (await nginx_app.test_client().get(f"/media/{video_id}/source/x.mp4")).status_code == 404
    assert (await nginx_app.test_client().get(f"/media/nope/{SEG}")).status_code == 404


async def test_x_sendfile(tmp_path: Path) -> None:
    app = create_app(
        make_settings(tmp_path, STREAMFORGE_SERVER__SENDFILE="x-sendfile"), run_jobs=False
    )
    async with app.test_app():
        rt = await started(app)
        video_id = await add_ready_video(rt)
        response = await app.test_client().get(f"/media/{video_id}/{SEG}")
        path = Path(response.headers["X-Sendfile"])
        assert path.is_absolute()
        assert path.read_bytes() == SEGMENT


async def test_s3_media_redirects_to_a_presigned_url(tmp_path: Path, moto_url: str) -> None:
    settings = make_settings(tmp_path, **s3_env(moto_url, unique_bucket(), create_bucket="true"))
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt = await started(app)
        video_id = await add_ready_video(rt)
        response = await app.test_client().get(f"/media/{video_id}/{SEG}")
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(moto_url)
        assert await asyncio.to_thread(fetch, location) == SEGMENT


async def test_s3_media_redirects_to_the_cdn(tmp_path: Path, moto_url: str) -> None:
    env = s3_env(moto_url, unique_bucket(), create_bucket="true", cdn_url="https://cdn.example.org")
    app = create_app(make_settings(tmp_path, **env), run_jobs=False)
    async with app.test_app():
        rt = await started(app)
        video_id = await add_ready_video(rt)
        response = await app.test_client().get(f"/media/{video_id}/{SEG}")
        assert response.status_code == 302
        assert response.headers["Location"] == f"https://cdn.example.org/videos/{video_id}/{SEG}"


@pytest.mark.parametrize(
    "rel",
    ["hls/master.m3u8", "hls/360p/playlist.m3u8", "hls/manifest.json", "thumbs/thumbnails.vtt"],
)
async def test_files_that_name_others_are_sent_from_here_on_s3(
    tmp_path: Path, moto_url: str, rel: str
) -> None:
    """A playlist redirected to a presigned URL would make the player resolve its segments
    against S3 (unsigned): playlists, the manifest and the VTT come from /media/ itself."""
    settings = make_settings(tmp_path, **s3_env(moto_url, unique_bucket(), create_bucket="true"))
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt = await started(app)
        video_id = await add_ready_video(rt)
        response = await app.test_client().get(f"/media/{video_id}/{rel}")
        assert response.status_code == 200
        assert await response.get_data() == FILES[rel]


async def test_a_private_videos_files_never_go_to_the_cdn(tmp_path: Path, moto_url: str) -> None:
    env = s3_env(moto_url, unique_bucket(), create_bucket="true", cdn_url="https://cdn.example.org")
    app = create_app(make_settings(tmp_path, **env), run_jobs=False)
    async with app.test_app():
        rt = await started(app)
        video_id = await add_ready_video(rt, privacy=Privacy.PRIVATE)
        token = media_links.sign(load_secret_key(rt.settings), video_id, 0, 600)
        client = app.test_client()
        assert (await client.get(f"/media/{video_id}/{SEG}")).status_code == 404
        response = await client.get(f"/media/{video_id}/~{token}/{SEG}")
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(moto_url), location  # presigned, not the CDN
        query = parse_qs(urlsplit(location).query)
        assert query["X-Amz-Expires"] == [str(PRIVATE_REDIRECT_SECONDS)]
        assert await asyncio.to_thread(fetch, location) == SEGMENT
