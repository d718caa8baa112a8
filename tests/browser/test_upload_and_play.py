"""In a real browser: upload through the uploader page (our tus client), then watch it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.authn import log_in
from tests.chromium import screenshot
from tests.e2e.cli import running_server, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def test_upload_page_uploads_and_the_video_plays(browser: Any, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "beach day.mp4", width=320, height=240, seconds=4.0)
    config = write_config(tmp_path)
    with running_server(config) as server:
        page = browser.new_page()
        log_in(page, server.url)
        page.goto(server.url + "/upload")
        page.set_input_files("input[type=file]", str(clip))
        link = page.locator(".upload.done .result a")
        link.wait_for(timeout=60_000)
        screenshot(page, "uploader-default")
        video_id = link.get_attribute("href").removeprefix("/v/")
        server.wait_for(video_id, lambda v: v["status"] == "ready")
        stored = next((tmp_path / "data" / "media" / "videos" / video_id / "source").iterdir())
        assert stored.read_bytes() == clip.read_bytes()

        page.goto(server.url + f"/v/{video_id}")
        page.wait_for_function(
            """() => { const v = document.querySelector('video');
                       if (v && v.paused) { v.muted = true; v.play(); }
                       return v && v.currentTime > 1.5; }""",
            timeout=30_000,
        )
        assert page.evaluate("document.querySelector('video').error") is None
        assert "beach day" in page.inner_text("h1")
        screenshot(page, "video-default")
