"""The uploader page under a slow link: pause, resume, and resume after a page reload."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.authn import log_in
from tests.e2e.cli import running_server, write_config
from tests.uploads.real import stored_source

pytestmark = pytest.mark.slow
KB = 1024


def slow_link(browser: Any, page: Any, kbytes_per_second: int) -> None:
    cdp = browser.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 20,
            "downloadThroughput": -1,
            "uploadThroughput": kbytes_per_second * KB,
        },
    )


def offsets_sent(page: Any) -> list[int]:
    sent: list[int] = []
    page.on(
        "request",
        lambda r: sent.append(int(r.headers["upload-offset"])) if r.method == "PATCH" else None,
    )
    return sent


def progress(page: Any) -> float:
    return float(page.eval_on_selector(".upload progress", "p => p.value"))


def test_pause_resume_and_resume_after_reload(browser: Any, tmp_path: Path) -> None:
    source = tmp_path / "trip.mp4"
    source.write_bytes(os.urandom(1_500_000))
    config = write_config(tmp_path)
    with running_server(config) as server:
        page = browser.new_page()
        log_in(page, server.url)
        slow_link(browser, page, 300)
        page.goto(server.url + "/upload")
        page.set_input_files("input[type=file]", str(source))
        page.wait_for_function("() => document.querySelector('.upload progress').value > 10")
        page.click(".upload .toggle")  # Pause
        page.wait_for_selector(".upload.paused")
        paused_at = progress(page)
        assert 0 < paused_at < 100

        # a reload forgets everything but the upload URL kept in localStorage
        page.reload()
        sent = offsets_sent(page)
        slow_link(browser, page, 2000)
        page.set_input_files("input[type=file]", str(source))
        page.locator(".upload.done .result a").wait_for(timeout=60_000)
        assert sent, "no PATCH after the reload"
        assert sent[0] > 0, "the upload started over instead of resuming"
        video_id = page.get_attribute(".upload.done .result a", "href").removeprefix("/v/")
        stored = stored_source(tmp_path, video_id).read_bytes()
        assert hashlib.sha256(stored).digest() == hashlib.sha256(source.read_bytes()).digest()
