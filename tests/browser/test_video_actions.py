"""In a real browser: edit a video's title, description and privacy on its page, delete it
after confirming, retry a failed job from the admin page."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.authn import log_in
from tests.chromium import screenshot
from tests.e2e.cli import cli, running_server, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def add(config: Path, path: Path) -> str:
    done = cli(config, "add", str(path))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_edit_then_delete_a_video(browser: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    video_id = add(config, make_clip(tmp_path / "harbour.mp4", width=160, height=120, seconds=1))
    with running_server(config) as server:
        page = browser.new_page()
        log_in(page, server.url)
        page.goto(server.url + f"/v/{video_id}")
        page.click(".video-actions summary")
        page.fill("[name=title]", "  Harbour   at dawn ")
        page.fill("[name=description]", "Boats <b>leaving</b>.\nSecond line.")
        page.select_option("[name=privacy]", "unlisted")
        page.click(".video-edit [type=submit]")
        page.wait_for_selector(".video-actions-status:text('Saved.')")
        assert page.inner_text(".watch h1") == "Harbour at dawn"  # as the server cleaned it
        assert page.input_value("[name=title]") == "Harbour at dawn"
        assert page.inner_text(".watch .description") == "Boats <b>leaving</b>.\nSecond line."
        assert page.title().startswith("Harbour at dawn – ")
        screenshot(page, "video-actions-default")
        stored = server.json(f"/api/v1/videos/{video_id}")
        assert (stored["title"], stored["privacy"]) == ("Harbour at dawn", "unlisted")
        assert stored["description"] == "Boats <b>leaving</b>.\nSecond line."

        page.fill("[name=title]", "   ")
        page.click(".video-edit [type=submit]")
        page.wait_for_selector(".video-actions-status.error")
        assert page.inner_text(".video-actions-status") == "Not saved: title must not be empty"
        assert page.inner_text(".watch h1") == "Harbour at dawn"

        page.reload()
        assert page.input_value("[name=privacy]") == "unlisted"

        questions: list[str] = []
        page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
        page.click("[data-delete-video]")
        assert questions == ["Delete “Harbour at dawn” and all its files? This cannot be undone."]
        assert server.get(f"/api/v1/videos/{video_id}")[0] == 200  # dismissed: still there

        page.once("dialog", lambda d: d.accept())
        with page.expect_navigation():
            page.click("[data-delete-video]")
        assert page.url == server.url + "/"
        assert server.get(f"/api/v1/videos/{video_id}")[0] == 404


def test_retry_button_requeues_a_failed_job(browser: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, jobs={"max_attempts": 1})
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    video_id = add(config, junk)
    with running_server(config) as server:
        server.wait_for(video_id, lambda v: v["status"] == "failed")
        page = browser.new_page()
        log_in(page, server.url)
        page.goto(server.url + "/admin")
        row = page.locator(f"tr.job:has(a[href='/v/{video_id}'])")
        assert row.locator(".state").inner_text() == "failed"
        row.locator("button[data-retry-job]").click()
        page.wait_for_selector(".admin-message:text('is queued again')")
        assert row.locator("button[data-retry-job]").count() == 0
        assert row.locator("td").nth(2).inner_text() == "1 / 2"
        screenshot(page, "admin-default")
        # the job really runs again, and fails again: the file is still not a video
        failed = server.wait_for(video_id, lambda v: v["status"] == "failed")
        assert failed["error"].startswith("not a supported video file")
        page.reload()
        assert row.locator("td").nth(2).inner_text() == "2 / 2"


def test_set_a_poster_then_go_back_to_the_generated_one(browser: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    video_id = add(config, make_clip(tmp_path / "pier.mp4", width=160, height=120, seconds=1))
    picture = tmp_path / "my poster.png"
    Image.new("RGB", (800, 450), (200, 40, 40)).save(picture)
    with running_server(config) as server:
        generated = server.wait_for(video_id, lambda v: v["status"] == "ready")["poster_url"]
        page = browser.new_page()
        log_in(page, server.url)
        page.goto(server.url + f"/v/{video_id}")
        page.click(".video-poster >> xpath=.. >> summary")
        page.set_input_files(".video-poster [name=poster]", str(picture))
        page.click(".video-poster [type=submit]")
        page.wait_for_selector(".video-actions-status:text('Poster saved.')")
        chosen = server.json(f"/api/v1/videos/{video_id}")["poster_url"]
        assert chosen != generated
        assert "/poster-" in chosen
        assert page.get_attribute("video", "poster") == chosen  # the page shows it at once
        status, body, headers = server.get(urlsplit(chosen).path)
        assert status == 200
        assert headers["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(body)) as served:
            assert served.format == "JPEG"
            assert served.getpixel((10, 10))[0] > 150  # our red, re-encoded

        page.click("[data-reset-poster]")
        page.wait_for_selector(".video-actions-status:text('The generated poster is back.')")
        assert server.json(f"/api/v1/videos/{video_id}")["poster_url"] == generated
        assert page.get_attribute("video", "poster") == generated
