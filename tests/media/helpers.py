"""Small x264 plans for the transcode tests, and checks of a finished output folder."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import m3u8
import pytest
from PIL import Image

from streamforge.media.ladder import plan_ladder
from streamforge.media.types import (
    Limits,
    ProbeResult,
    Rung,
    RungPlan,
    TranscodePlan,
    VideoEncoding,
)

SMALL_LADDER = [Rung("144p", 0, 144, 150_000, 64_000), Rung("240p", 0, 240, 300_000, 96_000)]


def x264(rung: Rung, gop: int) -> VideoEncoding:
    return VideoEncoding(
        codec="libx264",
        options={
            "preset": "ultrafast",
            "b": str(rung.video_bitrate),
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "x264-params": f"open-gop=0:scenecut=0:keyint={gop}:min-keyint={gop}",
            "threads": "2",
        },
    )


def small_plan(
    probe: ProbeResult, source: Path, out: Path, *, segment: int = 1, limits: Limits | None = None
) -> TranscodePlan:
    rungs, fps = plan_ladder(probe, SMALL_LADDER)
    gop = max(1, round(fps * segment))
    out.mkdir(parents=True, exist_ok=True)
    return TranscodePlan(
        source=str(source),
        output_dir=str(out),
        rungs=[RungPlan(r, x264(r, gop)) for r in rungs],
        frame_rate=fps,
        segment_seconds=segment,
        thumbnail_interval=1,
        sprite_columns=2,
        sprite_rows=2,
        limits=limits or Limits(),
    )


# --- checks of a finished output folder, shared with tests/e2e ----------------------------
#
# ``root`` is laid out as the child writes it and as storage keeps it:
# ``hls/{master.m3u8, manifest.json, <rung>/{playlist.m3u8, init.mp4, seg_NNNNN.m4s}}``,
# ``thumbs/{sprite_NNN.jpg, thumbnails.vtt}`` and ``poster.jpg``.


@dataclass
class SegmentReport:
    uri: str
    duration: float  # from #EXTINF
    video_frames: int
    audio_frames: int
    keyframes: list[float]  # seconds, from the demuxed packets


@dataclass
class RenditionReport:
    name: str
    resolution: tuple[int, int]  # from master.m3u8
    codecs: str
    bandwidth: int
    frame_rate: float  # FRAME-RATE of master.m3u8
    segments: list[SegmentReport]
    frame_size: tuple[int, int]  # of the decoded pictures
    pix_fmt: str
    rotation: int  # display matrix left on the decoded frames (0 when upright)
    frame_steps: set[float]  # distinct pts steps between pictures, seconds
    audio: tuple[str, int, int] | None  # (codec, channels, sample rate)
    first_frame: Image.Image

    @property
    def keyframes(self) -> list[float]:
        return [t for s in self.segments for t in s.keyframes]

    @property
    def durations(self) -> list[float]:
        return [s.duration for s in self.segments]

    @property
    def frames(self) -> int:
        return sum(s.video_frames for s in self.segments)


@dataclass
class OutputReport:
    renditions: list[RenditionReport]
    manifest: dict[str, Any]
    duration: float  # sum of the segment durations
    thumbnail_cues: int

    def rendition(self, name: str) -> RenditionReport:
        return next(r for r in self.renditions if r.name == name)


def _exact(value: int | None, time_base: Fraction | None) -> Fraction:
    assert value is not None
    assert time_base is not None
    return value * time_base


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    return round(float(_exact(value, time_base)), 4)


def decode_segment(
    init: Path, segment: Path, duration: float
) -> tuple[SegmentReport, dict[str, Any]]:
    """Decode ``init`` + ``segment`` as one fMP4: every packet must decode without error."""
    data = init.read_bytes() + segment.read_bytes()
    keyframes: list[float] = []
    video_pts: list[Fraction] = []
    info: dict[str, Any] = {}
    video_frames = audio_frames = 0
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        streams = list(container.streams.video[:1]) + list(container.streams.audio[:1])
        assert container.streams.video, f"{segment.name}: no video stream"
        vctx = container.streams.video[0].codec_context
        info["pix_fmt"] = vctx.pix_fmt
        if container.streams.audio:
            actx = container.streams.audio[0].codec_context
            info["audio"] = (actx.name, actx.channels, actx.sample_rate)
        first_packet = True
        for packet in container.demux(streams):
            if packet.size == 0:
                continue  # the flush packet
            frames = packet.decode()
            if packet.stream.type == "video":
                if first_packet:
                    assert packet.is_keyframe, f"{segment.name} does not start with a keyframe"
                    first_packet = False
                if packet.is_keyframe:
                    keyframes.append(_seconds(packet.pts, packet.time_base))
            for frame in frames:
                if isinstance(frame, av.VideoFrame):
                    video_frames += 1
                    video_pts.append(_exact(frame.pts, frame.time_base))
                    if "first_frame" not in info:
                        info["first_frame"] = frame.to_image()  # type: ignore[no-untyped-call]
                        info["frame_size"] = (frame.width, frame.height)
                        info["rotation"] = frame.rotation
                else:
                    audio_frames += 1
        # flush the decoders: frames held back by threading or reordering count too
        for stream in streams:
            for frame in stream.codec_context.decode(None):
                if isinstance(frame, av.VideoFrame):
                    video_frames += 1
                    video_pts.append(_exact(frame.pts, frame.time_base))
                else:
                    audio_frames += 1
    assert video_frames > 0, f"{segment.name}: no picture decoded"
    video_pts.sort()
    info["steps"] = {round(float(b - a), 6) for a, b in itertools.pairwise(video_pts)}
    report = SegmentReport(segment.name, duration, video_frames, audio_frames, sorted(keyframes))
    return report, info


def check_rendition(folder: Path, variant: Any) -> RenditionReport:
    """Parse one media playlist and decode each of its segments on its own."""
    playlist = m3u8.load(str(folder / "playlist.m3u8"))
    assert playlist.is_endlist, f"{folder.name}: a VOD playlist ends with #EXT-X-ENDLIST"
    assert playlist.segments, f"{folder.name}: no segments"
    [segment_map] = playlist.segment_map
    init = folder / segment_map.uri
    assert init.is_file(), f"{folder.name}: the playlist names a missing {segment_map.uri}"
    reports: list[SegmentReport] = []
    steps: set[float] = set()
    first: dict[str, Any] = {}
    for seg in playlist.segments:
        path = folder / seg.uri
        assert path.is_file(), f"{folder.name}: the playlist names a missing {seg.uri}"
        assert round(seg.duration) <= playlist.target_duration
        report, info = decode_segment(init, path, round(float(seg.duration), 4))
        reports.append(report)
        steps |= info["steps"]
        first = first or info
        assert info["pix_fmt"] == first["pix_fmt"]
        assert info.get("audio") == first.get("audio")
    info = variant.stream_info
    return RenditionReport(
        name=folder.name,
        resolution=tuple(info.resolution),
        codecs=info.codecs,
        bandwidth=info.bandwidth,
        frame_rate=float(info.frame_rate),
        segments=reports,
        frame_size=first["frame_size"],
        pix_fmt=first["pix_fmt"],
        rotation=first["rotation"],
        frame_steps=steps,
        audio=first.get("audio"),
        first_frame=first["first_frame"],
    )


def check_outputs(root: Path, *, thumbnail_interval: int = 4) -> OutputReport:
    """Assert what every finished video must satisfy; return what was found for more checks.

    master.m3u8 parses and names RESOLUTION/CODECS/BANDWIDTH/AVERAGE-BANDWIDTH/FRAME-RATE
    for every variant; every segment of every rung decodes (init + segment); keyframes,
    segment count and segment durations are identical in every rung, with one keyframe
    at the start of each segment; manifest.json lists exactly the playlists' segments;
    thumbnails.vtt has ceil(duration / interval) cues on sprites that exist; the poster
    exists.
    """
    hls = root / "hls"
    master = m3u8.load(str(hls / "master.m3u8"))
    assert master.is_variant, "master.m3u8 is not a multivariant playlist"
    assert master.playlists, "master.m3u8 lists no variants"
    renditions: list[RenditionReport] = []
    for variant in master.playlists:
        info = variant.stream_info
        for attr in ("resolution", "codecs", "bandwidth", "average_bandwidth", "frame_rate"):
            assert getattr(info, attr), f"{variant.uri}: no {attr.upper()} in master.m3u8"
        assert info.average_bandwidth <= info.bandwidth
        assert variant.uri.endswith("/playlist.m3u8")
        renditions.append(check_rendition(hls / variant.uri.rsplit("/", 1)[0], variant))
    bandwidths = [r.bandwidth for r in renditions]
    assert bandwidths == sorted(bandwidths), "variants are listed by bandwidth"

    reference = renditions[0]
    for r in renditions:
        assert r.resolution == r.frame_size, f"{r.name}: RESOLUTION is not the picture size"
        assert r.frame_size[0] % 2 == 0, f"{r.name}: odd width"
        assert r.frame_size[1] % 2 == 0, f"{r.name}: odd height"
        assert r.codecs.startswith("avc1.")
        assert ("mp4a.40.2" in r.codecs) == (r.audio is not None), f"{r.name}: CODECS vs audio"
        assert len(r.frame_steps) == 1, f"{r.name}: not constant frame rate: {r.frame_steps}"
        [step] = r.frame_steps
        assert step == pytest.approx(1 / r.frame_rate, abs=1e-3), f"{r.name}: FRAME-RATE"
        assert r.durations == reference.durations, f"{r.name}: segment durations differ"
        assert r.keyframes == reference.keyframes, f"{r.name}: keyframes are not aligned"
        assert r.frames == reference.frames, f"{r.name}: frame count differs"
        starts = list(itertools.accumulate([0.0, *r.durations[:-1]]))
        assert len(r.keyframes) == len(r.segments), f"{r.name}: stray keyframes {r.keyframes}"
        assert r.keyframes == pytest.approx(starts, abs=2e-3), f"{r.name}: keyframes vs segments"
    duration = sum(reference.durations)

    manifest = json.loads((hls / "manifest.json").read_text(encoding="utf-8"))
    listed = {m["name"]: m for m in manifest["renditions"]}
    assert set(listed) == {r.name for r in renditions}
    assert manifest["duration"] == pytest.approx(duration, abs=0.01)
    for r in renditions:
        entry = listed[r.name]
        playlist = m3u8.load(str(hls / r.name / "playlist.m3u8"))
        assert [s["url"] for s in entry["segments"]] == [
            f"{r.name}/{s.uri}" for s in playlist.segments
        ]
        assert [s["duration"] for s in entry["segments"]] == pytest.approx(r.durations, abs=1e-3)
        for s in entry["segments"]:
            assert (hls / s["url"]).stat().st_size == s["bytes"]
        assert (hls / entry["init"]).is_file()
        assert entry["codecs"] == r.codecs
        assert (entry["width"], entry["height"]) == r.resolution

    vtt = root / "thumbs" / "thumbnails.vtt"
    text = vtt.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT")
    cues = re.findall(r"^(\S+) --> (\S+)\n(\S+)#xywh=\d+,\d+,\d+,\d+$", text, re.MULTILINE)
    assert len(cues) == math.ceil(duration / thumbnail_interval - 1e-6), "thumbnail cue count"
    for _start, _end, sprite in cues:
        assert (vtt.parent / sprite).is_file(), f"thumbnails.vtt names a missing {sprite}"
    poster = root / "poster.jpg"
    with Image.open(poster) as img:
        assert img.format == "JPEG"
        assert img.width > 0
    return OutputReport(renditions, manifest, duration, len(cues))
