"""In a real browser: after an upload, the video page shows progress live over the
WebSocket and the player appears the moment the video is ready, without a reload."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.authn import log_in
from tests.chromium import pump_until, screenshot
from tests.conftest import worker_redis_url
from tests.e2e.cli import cli, running_server, wait_for_media_child, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def test_progress_and_player_appear_without_reload(browser: Any, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "live.mp4", width=426, height=240, seconds=12.0)
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
        # the transcode may take less than a second: hold it (freeze its media child)
        # until the video page listens, so there is progress to see
        child = wait_for_media_child(server)
        os.kill(child, signal.SIGSTOP)
        link = page.locator(".upload.done .result a")
        link.wait_for(timeout=60_000)
        link.click()
        page.wait_for_selector(".watch[data-video-id]")
        page.evaluate("window.__sameDocument = true")
        watched = page.get_attribute(".watch", "data-video-id")

        def has_snapshot() -> bool:
            return any(f.get("video_id") == watched and f["type"] == "video.state" for f in frames)

        pump_until(page, has_snapshot)
        os.kill(child, signal.SIGCONT)
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


def test_a_video_no_worker_takes_says_so_on_its_page(
    browser: Any, tmp_path: Path, worker_id: str
) -> None:
    # a GPU encoder configured and no worker for its queue: the page must not just sit
    # at "queued" without a word
    broker = f'[broker]\nurl = "{worker_redis_url(worker_id)}"\nnamespace = "nowkr-{worker_id}"'
    config = write_config(
        tmp_path,
        broker + '\n[transcode]\nencoder = "nvenc"',
        jobs={"requeue_after": 1, "reconcile_interval": 0.5},
    )
    clip = make_clip(tmp_path / "waiting.mp4", width=160, height=120, seconds=1.0)
    with running_server(config) as server:
        added = cli(config, "add", str(clip))
        assert added.returncode == 0, added.stderr
        video_id = added.stdout.strip()
        page = browser.new_page()
        page.goto(f"{server.url}/v/{video_id}")
        warning = page.locator(".watch .warning")
        warning.wait_for(timeout=30_000)
        text = warning.inner_text()
        assert text.startswith("no worker has taken this video's transcode for ")
        assert "streamforge worker --queues transcode.nvidia" in text
        assert page.get_attribute(".watch", "data-status") == "queued"
        page.close()  # (its WebSocket would hold serve's shutdown for the drain period)
        assert "with no worker taking them" in "".join(server.lines)
