"""The whole house, through the real CLI: add --wait, serve, play; kill -9 mid-transcode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import m3u8
import pytest

from tests.e2e.cli import (
    REPO,
    Server,
    cli,
    running_server,
    wait_for_media_child,
    write_config,
)
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def fetch_every_segment(server: Server, master_url: str) -> int:
    """Parse master.m3u8 and every variant; fetch init and segments; return the count."""
    status, body, headers = server.get(master_url)
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    master = m3u8.loads(body.decode(), uri=server.url + master_url)
    assert master.is_variant
    assert master.playlists
    fetched = 0
    for variant in master.playlists:
        assert variant.stream_info.bandwidth > 0
        assert variant.stream_info.resolution is not None
        assert variant.stream_info.codecs.startswith("avc1.")
        path = variant.absolute_uri.removeprefix(server.url)
        status, body, _ = server.get(path)
        assert status == 200
        playlist = m3u8.loads(body.decode(), uri=variant.absolute_uri)
        assert playlist.is_endlist
        assert playlist.segments
        uris = {s.init_section.absolute_uri for s in playlist.segments if s.init_section}
        uris |= {s.absolute_uri for s in playlist.segments}
        for uri in sorted(uris):
            status, data, _ = server.get(
                uri.removeprefix(server.url), headers={"Range": "bytes=0-"}
            )
            assert status in (200, 206), uri
            assert data
            status, head = server.head(uri.removeprefix(server.url))
            assert status == 200
            assert head["Content-Length"] == str(len(data))
            fetched += 1
    return fetched


def test_add_wait_then_serve_and_play(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "holiday_clip.mp4", width=320, height=240, seconds=3.0)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(REPO / "tests" / "plugins" / "everything.py", plugins / "everything.py")
    log = tmp_path / "hooks.jsonl"
    env = {"EVERYTHING_LOG": str(log)}
    config = write_config(
        tmp_path,
        f'[plugins]\ndirectory = "{plugins}"\n[notifiers]\nenabled = ["log", "everything"]',
    )

    added = cli(config, "add", str(clip), "--wait", env=env)
    assert added.returncode == 0, added.stderr
    video_id = added.stdout.strip()
    assert len(added.stdout.splitlines()) == 1
    assert len(video_id) == 11
    assert f"{video_id}: ready" in added.stderr

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    ready = [c for c in calls if c["hook"] == "video_ready"]
    assert ready == [
        {
            "hook": "video_ready",
            "video_id": video_id,
            "status": "ready",
            "hls_url": f"/media/{video_id}/hls/master.m3u8",
        }
    ]
    assert {"hook": "notify", "type": "video.ready", "video_id": video_id} in calls
    assert any(c["hook"] == "transcode_ladder" and c["rungs"] == ["144p", "240p"] for c in calls)

    with running_server(config, env) as server:
        video = server.json(f"/api/v1/videos/{video_id}")
        assert video["status"] == "ready"
        assert video["title"] == "holiday clip"
        assert video["duration"] == pytest.approx(3.0, abs=0.1)
        assert [r["name"] for r in video["renditions"]] == ["144p", "240p"]
        assert fetch_every_segment(server, video["hls_url"]) >= 2
        status, body, _ = server.get("/hello-plugin")
        assert (status, json.loads(body)) == (200, {"hello": "from a plugin"})
        status, page, _ = server.get("/")
        assert status == 200
        assert b"holiday clip" in page
        assert b"Everything Tube" in page  # extra_template_vars from the plugin
        status, page, _ = server.get(f"/v/{video_id}")
        assert f'src="/media/{video_id}/hls/master.m3u8"'.encode() in page


def test_add_refuses_missing_files_and_imports_nothing(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", width=160, height=120, seconds=1.0)
    config = write_config(tmp_path)
    result = cli(config, "add", str(clip), str(tmp_path / "missing.mp4"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"streamforge: error: no such file: {tmp_path / 'missing.mp4'} (nothing was imported)\n"
    )
    assert not (tmp_path / "data" / "media" / "videos").exists()


def test_add_gives_the_videos_an_owner_and_a_privacy(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "mine.mp4", width=160, height=120, seconds=1.0)
    config = write_config(tmp_path)
    for name, role in (("alice", "uploader"), ("victor", "viewer")):
        made = cli(config, "user", "add", name, "--role", role, "--password-stdin", stdin="pw-" * 4)
        assert made.returncode == 0, made.stderr

    added = cli(config, "add", str(clip), "--owner", "alice", "--privacy", "private")
    assert added.returncode == 0, added.stderr
    db = sqlite3.connect(tmp_path / "data" / "streamforge.db")
    row = db.execute(
        "SELECT users.name, videos.privacy FROM videos JOIN users ON users.id = videos.owner_id "
        "WHERE videos.id = ?",
        (added.stdout.strip(),),
    ).fetchone()
    assert row == ("alice", "private")

    for owner, why in (("nobody", "no user named 'nobody'"), ("victor", "a viewer")):
        refused = cli(config, "add", str(clip), "--owner", owner)
        assert refused.returncode == 2
        assert refused.stdout == ""
        assert why in refused.stderr
        assert "nothing was imported" in refused.stderr
    assert db.execute("SELECT count(*) FROM videos").fetchone() == (1,)


def test_add_wait_exits_nonzero_when_a_video_fails(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 not a video at all" * 100)
    config = write_config(tmp_path, jobs={"max_attempts": 1})
    result = cli(config, "add", str(junk), "--wait")
    assert result.returncode == 1
    video_id = result.stdout.strip()
    assert f"{video_id}: failed: " in result.stderr
    assert "Traceback" not in result.stderr


def test_server_killed_mid_transcode_loses_nothing(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", width=426, height=240, seconds=12.0)
    config = write_config(tmp_path)
    with running_server(config) as first:
        added = cli(config, "add", str(clip))
        assert added.returncode == 0, added.stderr
        video_id = added.stdout.strip()
        os.kill(wait_for_media_child(first), signal.SIGSTOP)  # caught mid-way
        assert first.json(f"/api/v1/videos/{video_id}")["status"] in ("queued", "processing")
        first.kill()
        deadline = time.monotonic() + 10
        while first.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not first.group_alive(), "the media child outlived the killed server"

    with running_server(config) as second:
        video = second.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video
        assert fetch_every_segment(second, video["hls_url"]) >= 3

    db = sqlite3.connect(tmp_path / "data" / "streamforge.db")
    attempts = db.execute("SELECT number, outcome FROM job_attempts ORDER BY number").fetchall()
    assert attempts == [(1, "lost"), (2, "succeeded")]
    assert db.execute("SELECT count(*) FROM renditions").fetchone() == (2,)
    hls = tmp_path / "data" / "media" / "videos" / video_id / "hls"
    for rung in ("144p", "240p"):
        inits = sorted(p.name for p in (hls / rung).iterdir() if p.suffix == ".mp4")
        assert inits == ["init.mp4"]
        playlist = m3u8.load(str(hls / rung / "playlist.m3u8"))
        on_disk = sorted(p.name for p in (hls / rung).glob("seg_*.m4s"))
        assert on_disk == sorted(s.uri for s in playlist.segments)  # one set, no strays
    assert not any((tmp_path / "data" / "scratch").glob("*/out"))
