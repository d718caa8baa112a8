"""``[logging] format``: readable lines or one JSON object per line, with the fields a
transcode binds; and media link tokens never reach the log, whatever logs them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamforge.app import create_app
from streamforge.config import LoggingSection
from streamforge.db.models import Privacy
from streamforge.logs import NOISY, bind, bound, scrub, setup_logging
from streamforge.web.state import AppState
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.e2e.cli import Server, cli, write_config
from tests.mediagen import make_clip
from tests.web.helpers import add_ready_video, add_ready_video_to

TOKEN = "1999999999.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes the root logger of this process: put it back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_time_level_logger_message_extras_and_exceptions() -> None:
    out = io.StringIO()
    setup_logging(LoggingSection(level="info", format="json"), stream=out)
    log = logging.getLogger("streamforge.test")
    log.info("video %s stored", "vid1", extra={"video_id": "vid1", "bytes": 1234})
    log.debug("not at info")
    try:
        raise ValueError("broken\nover two lines")
    except ValueError:
        log.exception("it failed")
    first, second = json_lines(out.getvalue())
    assert set(first) == {"time", "level", "logger", "message", "video_id", "bytes"}
    assert first["level"] == "info"
    assert first["logger"] == "streamforge.test"
    assert first["message"] == "video vid1 stored"
    assert (first["video_id"], first["bytes"]) == ("vid1", 1234)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert second["level"] == "error"
    assert second["exception"].startswith("Traceback")
    assert "ValueError: broken\nover two lines" in second["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_and_setting_up_twice_keeps_one_handler() -> None:
    setup_logging(LoggingSection(format="json"), stream=io.StringIO())
    out = io.StringIO()
    setup_logging(LoggingSection(level="warning", format="text"), stream=out)
    logging.getLogger("streamforge.test").info("quiet")
    logging.getLogger("streamforge.test").warning("loud %d", 1)
    line = out.getvalue()
    assert re.fullmatch(r"\S+ \S+ WARNING streamforge\.test: loud 1\n", line), line
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "StreamForgeHandler"]
    assert len(ours) == 1


@pytest.mark.usefixtures("restore_logging")
async def test_bound_fields_reach_every_line_of_their_task_only() -> None:
    out = io.StringIO()
    setup_logging(LoggingSection(format="json"), stream=out)
    log = logging.getLogger("streamforge.test")

    async def job(job_id: str) -> None:
        bind(job_id=job_id, video_id=f"v-{job_id}")
        await asyncio.sleep(0)

        async def child() -> None:  # a task it starts inherits the fields
            log.info("from a child of %s", job_id)

        await asyncio.create_task(child())
        log.info("done %s", job_id)

    await asyncio.gather(job("a"), job("b"))
    log.info("outside")
    lines = json_lines(out.getvalue())
    for line in lines[:-1]:
        job_id = line["message"].rsplit(" ", 1)[1]
        assert (line["job_id"], line["video_id"]) == (job_id, f"v-{job_id}")
    assert "job_id" not in lines[-1]
    assert bound() == {}


def test_scrub_removes_media_link_tokens() -> None:
    path = f"/media/abc123/~{TOKEN}/hls/720p/seg_00001.m4s"
    assert scrub(f"GET {path} failed") == "GET /media/abc123/~***/hls/720p/seg_00001.m4s failed"
    assert scrub(f"/watch?t={TOKEN}&x=1") == "/watch?t=***&x=1"
    assert scrub("/media/abc123/hls/master.m3u8 t=5") == "/media/abc123/hls/master.m3u8 t=5"


@pytest.mark.usefixtures("restore_logging")
async def test_a_failing_media_request_is_logged_without_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quart logs the request path of an unhandled error; the token in it must not stay."""
    out = io.StringIO()
    setup_logging(LoggingSection(format="text"), stream=out)
    app = create_app(make_settings(tmp_path), run_jobs=False)
    async with app.test_app():
        state: AppState = app.extensions["streamforge"]
        rt = state.runtime
        assert rt is not None
        await add_ready_video(rt, "privvid0001", privacy=Privacy.PRIVATE)
        _, api_token = await make_account(rt.db)
        video = await (
            await bearer_client(app, api_token).get("/api/v1/videos/privvid0001")
        ).get_json()
        link = video["hls_url"]
        token = link.split("/~", 1)[1].split("/", 1)[0]

        async def broken(key: str) -> None:  # fault injection: the storage fails
            raise RuntimeError(f"disk on fire reading {key}")

        monkeypatch.setattr(rt.storage, "stat", broken)
        response = await app.test_client().get(link)
        assert response.status_code == 500
    text = out.getvalue()
    assert "Exception on request GET /media/privvid0001/~***/hls/master.m3u8" in text
    assert "disk on fire" in text  # the traceback is there…
    assert token not in text  # …the token is not


@pytest.mark.slow
def test_serve_and_add_write_json_lines_without_tokens(tmp_path: Path) -> None:
    """The real CLI: every log line is JSON, a transcode's lines carry its job and video,
    and fetching private media with a link leaves no token in the output."""
    config = write_config(tmp_path, '[logging]\nlevel = "debug"\nformat = "json"\n')
    clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=2.0)
    added = cli(config, "add", str(clip), "--wait")
    assert added.returncode == 0, added.stderr
    video_id = added.stdout.strip()
    records = [json.loads(line) for line in added.stderr.splitlines() if line.startswith("{")]
    # (a "not claimable" line of a duplicate message comes before any claim: no fields)
    ran = [
        r
        for r in records
        if r["logger"] == "streamforge.jobs.runner" and "not claimable" not in r["message"]
    ]
    assert len(ran) >= 2, added.stderr  # "attempt 1/3 for video …", "video … ready"
    assert all(r["video_id"] == video_id and r["job_id"] for r in ran), ran

    asyncio.run(add_ready_video_to(config, "privvid0001", privacy=Privacy.PRIVATE))
    server = Server(config)
    try:
        server.wait_ready()
        link = server.json("/api/v1/videos/privvid0001")["hls_url"]
        token = link.split("/~", 1)[1].split("/", 1)[0]
        for rel in ("hls/master.m3u8", "hls/360p/seg_00000.m4s", "hls/missing.m3u8"):
            server.get(link.replace("hls/master.m3u8", rel), headers={"Authorization": ""})
    finally:
        server.stop()
    output = "".join(server.lines)
    assert token not in output
    for line in server.lines:
        if not line.startswith("StreamForge is running at ") and not line.startswith("data "):
            assert json.loads(line)["level"] in ("debug", "info", "warning", "error"), line
