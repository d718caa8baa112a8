"""Hostile files imported into a running server: each fails with a reason, the server and
its job workers keep going, and a good video afterwards still becomes ready."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from tests.e2e.cli import cli, running_server, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def hostile_files(folder: Path) -> dict[str, Path]:
    secret = folder / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER\n")
    files = {
        "playlist.m3u8": f"#EXTM3U\n#EXTINF:10,\nfile://{secret}\n#EXTINF:10,\nfile:///etc/passwd\n",
        "list.ffconcat": f"ffconcat version 1.0\nfile '{secret}'\n",
        "manifest.mpd": f'<?xml version="1.0"?><MPD><BaseURL>file://{secret}</BaseURL></MPD>',
        "zero.mp4": "",
    }
    out = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        out[name] = folder / name
    out["random.mp4"] = folder / "random.mp4"
    out["random.mp4"].write_bytes(os.urandom(64 * 1024))
    ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )
    out["huge.mp4"] = folder / "huge.mp4"
    out["huge.mp4"].write_bytes(png)
    return out


def test_hostile_imports_fail_and_the_server_carries_on(tmp_path: Path) -> None:
    config = write_config(tmp_path, jobs={"max_attempts": 1})
    files = hostile_files(tmp_path)
    good = make_clip(tmp_path / "good.mp4", width=256, height=144, seconds=2.0)
    with running_server(config) as server:
        ids = {}
        for name, path in files.items():
            if name == "zero.mp4":
                result = cli(config, "add", str(path))
                assert result.returncode == 2
                assert result.stderr == f"streamforge: error: {path}: the file is empty\n"
                continue
            result = cli(config, "add", str(path))
            assert result.returncode == 0, result.stderr
            ids[name] = result.stdout.strip()
        for name, video_id in ids.items():
            video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
            assert video["status"] == "failed", (name, video)
            assert video["error"].startswith("not a supported video file"), (name, video)
            assert "TOP-SECRET" not in video["error"]
            assert "root:" not in video["error"]
        added = cli(config, "add", str(good))
        video = server.wait_for(added.stdout.strip(), lambda v: v["status"] == "ready")
        assert video["renditions"]
        assert server.json("/api/v1/health")["status"] == "ok"
