"""The whole pass through the sandbox: aligned rungs, playable segments, thumbnails."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import av
import m3u8
import pytest

from streamforge.media import sandbox
from streamforge.media.types import Limits, Progress, TranscodeResult
from tests.media.helpers import small_plan
from tests.mediagen import make_clip


async def run(tmp_path: Path, **clip: object) -> tuple[TranscodeResult, list[Progress], Path]:
    source = make_clip(tmp_path / str(clip.pop("name", "src.mp4")), **clip)  # type: ignore[arg-type]
    probe = await sandbox.probe(str(source), Limits())
    plan = small_plan(probe, source, tmp_path / "out")
    seen: list[Progress] = []

    async def on_progress(p: Progress) -> None:
        seen.append(p)

    result = await sandbox.transcode(plan, on_progress)
    return result, seen, tmp_path / "out"


def keyframe_times(init: Path, segments: list[Path]) -> tuple[list[float], int]:
    """Keyframe times and frame count of init + segments, decoded as one fMP4."""
    joined = init.parent / "joined.mp4"
    joined.write_bytes(init.read_bytes() + b"".join(s.read_bytes() for s in segments))
    times: list[float] = []
    frames = 0
    with av.open(str(joined)) as c:
        stream = c.streams.video[0]
        for packet in c.demux(stream):
            if packet.pts is not None and packet.is_keyframe:
                times.append(round(float(packet.pts * stream.time_base), 3))
            frames += len(packet.decode())
    joined.unlink()
    return sorted(times), frames


async def test_ladder_is_aligned_and_playable(tmp_path: Path) -> None:
    result, seen, out = await run(tmp_path, width=426, height=240, seconds=3.0)
    assert [r.name for r in result.renditions] == ["144p", "240p"]
    # each rung's own busy time comes back with the result (for the per-rung metric)
    assert sorted(result.rung_seconds) == ["144p", "240p"]
    assert all(seconds > 0 for seconds in result.rung_seconds.values())
    assert result.duration == pytest.approx(3.0)

    master = m3u8.load(str(out / "hls" / "master.m3u8"))
    assert master.is_variant
    variants = master.playlists
    assert [v.stream_info.resolution for v in variants] == [(256, 144), (426, 240)]
    for v in variants:
        assert v.stream_info.bandwidth > 0
        assert v.stream_info.codecs.startswith("avc1.")
        assert v.stream_info.codecs.endswith(",mp4a.40.2")
    bandwidths = [v.stream_info.bandwidth for v in variants]
    assert bandwidths == sorted(bandwidths)

    durations, keyframes = [], []
    for r in result.renditions:
        playlist = m3u8.load(str(out / r.playlist))
        folder = (out / r.playlist).parent
        durations.append([round(s.duration, 3) for s in playlist.segments])
        times, frames = keyframe_times(
            folder / "init.mp4", [folder / s.uri for s in playlist.segments]
        )
        assert frames == 90  # 3 s at 30 fps, every segment decodes
        keyframes.append(times)
    assert durations[0] == durations[1] == [1.0, 1.0, 1.0]
    assert keyframes[0] == keyframes[1] == [0.0, 1.0, 2.0]

    manifest = json.loads((out / "hls" / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert manifest["thumbnails"] == "../thumbs/thumbnails.vtt"
    first = manifest["renditions"][0]
    assert first["init"] == "144p/init.mp4"
    assert [s["start"] for s in first["segments"]] == [0.0, 1.0, 2.0]
    assert all((out / "hls" / s["url"]).stat().st_size == s["bytes"] for s in first["segments"])

    cues = (out / "thumbs" / "thumbnails.vtt").read_text().count("#xywh=")
    assert cues == math.ceil(result.duration / 1)
    assert (out / "thumbs" / "sprite_000.jpg").is_file()
    assert (out / "poster.jpg").is_file()
    assert set(result.files) == {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    }

    percents = [p.percent for p in seen]
    assert percents == sorted(percents)
    assert percents[-1] >= 99


async def test_rotated_vfr_surround_source(tmp_path: Path) -> None:
    result, _, out = await run(
        tmp_path, name="phone.mkv", width=320, height=180, seconds=2.0, rotation=90,
        vfr=True, audio_channels=6, audio_rate=44100,
    )  # fmt: skip
    [rendition] = result.renditions  # a 180-wide portrait: one rung at 144p
    assert (rendition.width, rendition.height) == (144, 256)
    folder = out / "hls" / rendition.name
    playlist = m3u8.load(str(folder / "playlist.m3u8"))
    joined = folder / "joined.mp4"
    joined.write_bytes(
        (folder / "init.mp4").read_bytes()
        + b"".join((folder / s.uri).read_bytes() for s in playlist.segments)
    )
    with av.open(str(joined)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (a.codec_context.channels, a.codec_context.sample_rate) == (2, 48000)
        frames = list(c.decode(v))
    assert (frames[0].width, frames[0].height, frames[0].rotation) == (144, 256, 0)
    # constant frame rate out of a variable one
    steps = {
        round(float((b.pts - a_.pts) * v.time_base), 4) for a_, b in itertools.pairwise(frames)
    }
    assert len(steps) == 1
    # the red top-left marker of the source is top-right once turned clockwise
    img = frames[0].to_image()
    r, g, _b = img.getpixel((img.width - 5, 5))
    assert r > 180
    assert g < 80


async def test_source_without_audio_gives_video_only(tmp_path: Path) -> None:
    result, _, _out = await run(tmp_path, width=256, height=144, seconds=1.0, audio=False)
    assert [r.codecs.count(",") for r in result.renditions] == [0]
    assert result.renditions[0].codecs.startswith("avc1.")
