"""In a real browser: the live status reconnects with backoff after its WebSocket drops,
and what happened while it was away reaches the page through the resubscribe snapshot."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import pump_until
from tests.e2e.cli import cli, running_server, wait_for_media_child, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


class EventsLink:
    """Sits between the page and the server's ``/api/v1/events``; can cut and refuse it."""

    def __init__(self) -> None:
        self.refusing = False
        self.attempts: list[float] = []  # when the page tried to connect
        self.frames: list[list[dict[str, Any]]] = []  # per accepted connection
        self.page_side: Any = None

    def route(self, ws: Any) -> None:
        self.attempts.append(time.monotonic())
        if self.refusing:
            ws.close(code=1013, reason="refused by the test")
            return
        frames: list[dict[str, Any]] = []
        self.frames.append(frames)
        self.page_side = ws
        server = ws.connect_to_server()

        def relay(message: str | bytes) -> None:
            frames.append(json.loads(message))
            ws.send(message)

        server.on_message(relay)

    def cut(self) -> None:
        self.refusing = True
        self.page_side.close(code=1012, reason="server restarting")


def test_a_dropped_page_reconnects_and_its_snapshot_shows_what_it_missed(
    browser: Any, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=426, height=240, seconds=6.0)
    config = write_config(tmp_path, x264={"preset": "medium"})
    with running_server(config) as server:
        added = cli(config, "add", str(clip))
        assert added.returncode == 0, added.stderr
        video_id = added.stdout.strip()
        # the transcode may take less than a second: hold it (freeze its media child)
        # until the page has its first snapshot
        child = wait_for_media_child(server)
        os.kill(child, signal.SIGSTOP)

        link = EventsLink()
        page = browser.new_page()
        page.route_web_socket("**/api/v1/events", link.route)
        page.goto(f"{server.url}/v/{video_id}")
        page.evaluate("window.__sameDocument = true")
        pump_until(page, lambda: any(f.get("video_id") == video_id for f in link.frames[0]))
        first = next(f for f in link.frames[0] if f.get("video_id") == video_id)
        assert first["type"] == "video.state"
        assert first["video"]["status"] != "ready"
        link.cut()
        os.kill(child, signal.SIGCONT)

        # while the page is cut off, the video finishes: its video.ready event is lost to it
        # (waited for through the page, so Playwright keeps routing its reconnect attempts)
        page.wait_for_function(
            """async (id) => {
                 const r = await fetch(`/api/v1/videos/${id}`);
                 return (await r.json()).status === "ready";
               }""",
            arg=video_id,
            polling=250,
            timeout=120_000,
        )
        # and the page keeps trying for a while whatever the transcode's speed
        pump_until(page, lambda: len(link.attempts) >= 4)
        assert page.locator(".player video").count() == 0
        refused_while_away = len(link.attempts) - 1
        link.refusing = False
        page.wait_for_selector(".player video", timeout=45_000)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    # it kept trying, each time waiting longer (backoff), then resubscribed
    assert refused_while_away >= 2, link.attempts
    gaps = [b - a for a, b in itertools.pairwise(link.attempts[1:])]
    assert all(later > earlier * 1.5 for earlier, later in itertools.pairwise(gaps)), gaps
    assert len(link.frames) == 2
    seen_again = [f for f in link.frames[1] if f.get("video_id") == video_id]
    assert seen_again[0]["type"] == "video.state"
    assert seen_again[0]["video"]["status"] == "ready"
    assert all(f["type"] != "video.ready" for f in seen_again)
