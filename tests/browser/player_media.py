"""One small ready video with three renditions, for the player's browser tests and its
benchmark (tests/bench/player.py).

It is transcoded once per test session (``streamforge add --wait`` into a shared folder,
under a file lock, so two xdist workers do not both build it) and each user then serves
its own copy of the data folder with its own ``streamforge serve``: tests may break
their copy without disturbing the other worker.

Three rungs without a 1080p source: ``write_config``'s small ladder (144p, 240p) plus a
360p rung, from a 640×360 source at 10 fps. 40 s long: ten 4-s segments, enough for the
player to fill its forward buffer, switch and seek while some of the video is left.
"""

from __future__ import annotations

import fcntl
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.cli import Server, cli, running_server, write_config
from tests.mediagen import make_clip

#: Bump when the clip or the ladder changes, so a stale shared build is not reused.
BUILD = "player-media-v1"
RUNG_360P = """
[[transcode.ladder]]
name = "360p"
height = 360
video_bitrate = 800000
audio_bitrate = 96000
"""
_CUE_TIME = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    file: str
    x: int
    y: int
    w: int
    h: int


@dataclass
class PlayerMedia:
    server: Server
    video_id: str
    data_dir: Path
    manifest: dict[str, Any]
    cues: list[Cue]

    @property
    def page_url(self) -> str:
        return f"{self.server.url}/v/{self.video_id}"

    @property
    def rungs(self) -> list[str]:
        """Rendition names, lowest bandwidth first (the manifest's order)."""
        return [r["name"] for r in self.manifest["renditions"]]

    def rendition(self, name: str) -> dict[str, Any]:
        return next(r for r in self.manifest["renditions"] if r["name"] == name)

    def cue_at(self, t: float) -> Cue:
        return next(c for c in self.cues if c.start <= t < c.end)


def _seconds(stamp: str) -> float:
    m = _CUE_TIME.fullmatch(stamp.strip())
    assert m, stamp
    return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def parse_vtt(text: str) -> list[Cue]:
    """Thumbnail cues ``start --> end`` followed by ``file#xywh=x,y,w,h``."""
    cues: list[Cue] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "-->" not in line:
            continue
        start, end = (_seconds(part.split()[0]) for part in line.split("-->"))
        file, _, frag = lines[i + 1].strip().partition("#xywh=")
        x, y, w, h = (int(n) for n in frag.split(","))
        cues.append(Cue(start, end, file, x, y, w, h))
    return cues


def build(folder: Path) -> str:
    """Make the clip and transcode it into ``folder/data``; the video's id."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = make_clip(folder / "player-clip.mp4", width=640, height=360, seconds=40.0, fps=10)
    config = write_config(folder, RUNG_360P)
    added = cli(config, "add", str(clip), "--wait", timeout=600)
    assert added.returncode == 0, added.stderr
    return added.stdout.strip()


def shared_build(root: Path) -> tuple[Path, str]:
    """The data folder and video id of the build under ``root``, made on first use."""
    folder = root / BUILD
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{BUILD}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = folder / "video-id"
        if not done.is_file():
            if folder.exists():
                shutil.rmtree(folder)  # an interrupted build
            video_id = build(folder)
            done.write_text(video_id)
        return folder / "data", done.read_text().strip()


@contextmanager
def serve_copy(root: Path, into: Path) -> Iterator[PlayerMedia]:
    """Serve a private copy of the shared build (made under ``root`` if needed)."""
    data, video_id = shared_build(root)
    shutil.copytree(data, into / "data")
    with running_server(write_config(into, RUNG_360P)) as server:
        manifest = server.json(f"/media/{video_id}/hls/manifest.json")
        status, vtt, _ = server.get(f"/media/{video_id}/thumbs/thumbnails.vtt")
        assert status == 200
        yield PlayerMedia(server, video_id, into / "data", manifest, parse_vtt(vtt.decode()))
