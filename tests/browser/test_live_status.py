"""In a real browser: after an upload, the video page shows progress live over the
WebSocket and the player appears the moment the video is ready, without a reload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.authn import log_in
from tests.chromium import screenshot
from tests.e2e.cli import running_server, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def test_progress_and_player_appear_without_reload(browser: Any, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "live.mp4", width=426, height=240, seconds=12.0)
    # slow enough to watch the progress move: a slower preset on a 2-core machine
    config = write_config(tmp_path, x264={"preset": "medium"})
    with running_server(config) as server:
        page = browser.new_page()
        log_in(page, server.url)
        frames: list[dict[str, Any]] = []
        page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))),
        )
        page.goto(server.url + "/upload")
        page.set_input_files("input[type=file]", str(clip))
        link = page.locator(".upload.done .result a")
        link.wait_for(timeout=60_000)
        link.click()
        page.wait_for_selector(".watch[data-video-id]")
        page.evaluate("window.__sameDocument = true")
        page.wait_for_selector(".player video", timeout=120_000)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        page.wait_for_function(
            """() => { const v = document.querySelector('.player video');
                       if (v.paused) { v.muted = true; v.play(); }
                       return v.currentTime > 1; }""",
            timeout=30_000,
        )
        screenshot(page, "video-live-default")

    video_id = page.get_attribute(".watch", "data-video-id")
    mine = [f for f in frames if f.get("video_id") == video_id]
    kinds = [f["type"] for f in mine]
    assert "video.ready" in kinds
    percents = [f["percent"] for f in mine if f["type"] == "video.progress"]
    assert len(percents) >= 2, kinds
    assert percents == sorted(percents)
    assert kinds.index("video.ready") > kinds.index("video.progress")
    ready = next(f for f in mine if f["type"] == "video.ready")
    assert ready["video"]["hls_url"] == f"/media/{video_id}/hls/master.m3u8"
