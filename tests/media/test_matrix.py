"""The source matrix: the default ladder and the x264 plugin through the real sandbox.

Each case generates a source, probes it in the child, plans the default ladder
(360p/720p/1080p), encodes every rung in one child pass, then checks the outputs with
:func:`tests.media.helpers.check_outputs` (aligned keyframes, equal segments, a parseable
master playlist, decodable segments, thumbnails, poster, manifest) plus what the case is
about. Sources are short and mostly 10 fps: 5 s gives two 4 s segments and two thumbnails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from streamforge_x264 import X264Encoder

from streamforge.config import Settings
from streamforge.library.transcoding import configured_rungs
from streamforge.media import sandbox
from streamforge.media.ladder import plan_ladder
from streamforge.media.types import Limits, RungPlan, TranscodePlan, TranscodeResult
from tests.media.helpers import OutputReport, check_outputs
from tests.mediagen import make_clip

STEREO_48K = ("aac", 2, 48000)


@dataclass(frozen=True)
class Case:
    clip: dict[str, Any]  # make_clip arguments
    rungs: list[tuple[str, int, int]]  # expected (name, width, height), lowest first
    audio: tuple[str, int, int] | None = STEREO_48K
    file: str = "src.mp4"
    fps: float = 10.0
    probe: dict[str, Any] = field(default_factory=dict)  # expected ProbeResult fields


CASES = {
    "1080p": Case(
        {"width": 1920, "height": 1080, "seconds": 5, "fps": 10},
        [("360p", 640, 360), ("720p", 1280, 720), ("1080p", 1920, 1080)],
    ),
    "480p-keeps-360p-only": Case(
        {"width": 854, "height": 480, "seconds": 6, "fps": 10}, [("360p", 640, 360)]
    ),
    "240p-below-the-ladder": Case(
        {"width": 426, "height": 240, "seconds": 6, "fps": 10}, [("240p", 426, 240)]
    ),
    "portrait": Case(
        {"width": 1080, "height": 1920, "seconds": 5, "fps": 10},
        [("360p", 360, 640), ("720p", 720, 1280), ("1080p", 1080, 1920)],
    ),
    "1918x1078": Case(  # 1078 < 1080: no 1080p; 720 × 1918 / 1078 = 1281.04 → 1282
        {"width": 1918, "height": 1078, "seconds": 5, "fps": 10},
        [("360p", 640, 360), ("720p", 1282, 720)],
    ),
    "odd-853x479": Case(  # 4:4:4 allows odd coded sizes; 360 × 853 / 479 = 641.1 → 642
        {"width": 853, "height": 479, "seconds": 5, "fps": 10, "pix_fmt": "yuv444p"},
        [("360p", 642, 360)],
        probe={"width": 853, "height": 479},
    ),
    "odd-427x241-below-the-ladder": Case(
        {"width": 427, "height": 241, "seconds": 5, "fps": 10, "pix_fmt": "yuv444p"},
        [("240p", 426, 240)],
    ),
    "anamorphic-720x480-sar-32:27": Case(
        {"width": 720, "height": 480, "seconds": 5, "fps": 10, "sar": (32, 27)},
        [("360p", 640, 360)],
        probe={"width": 853, "height": 480, "sample_aspect_ratio": (32, 27)},
    ),
    "rotated-90": Case(
        {"width": 640, "height": 360, "seconds": 6, "fps": 10, "rotation": 90},
        [("360p", 360, 640)],
        probe={"rotation": 90, "width": 360, "height": 640},
    ),
    "no-audio": Case(
        {"width": 640, "height": 360, "seconds": 6, "fps": 10, "audio": False},
        [("360p", 640, 360)],
        audio=None,
        probe={"has_audio": False},
    ),
    "5.1-44.1kHz": Case(
        {
            "width": 640,
            "height": 360,
            "seconds": 6,
            "fps": 10,
            "audio_channels": 6,
            "audio_rate": 44100,
        },
        [("360p", 640, 360)],
        probe={"audio_channels": 6, "audio_sample_rate": 44100},
    ),
    "vfr": Case(  # bursts at 50 fps and 20 fps on a millisecond clock, out at 30 fps CFR
        {"width": 640, "height": 360, "seconds": 6, "fps": 30, "vfr": True},
        [("360p", 640, 360)],
        file="src.mkv",
        fps=30.0,
        probe={"is_vfr": True},
    ),
    "10-bit": Case(
        {"width": 640, "height": 360, "seconds": 6, "fps": 10, "pix_fmt": "yuv420p10le"},
        [("360p", 640, 360)],
        probe={"bit_depth": 10},
    ),
    "29.97fps": Case(
        {"width": 640, "height": 360, "seconds": 9, "fps": Fraction(30000, 1001)},
        [("360p", 640, 360)],
        fps=29.97,
        probe={"frame_rate": 29.97, "is_vfr": False},
    ),
}


async def run_pipeline(source: Path, out: Path) -> tuple[Any, TranscodePlan, TranscodeResult]:
    """What the job runner does, minus storage: sandboxed probe, default ladder, x264."""
    settings = Settings()
    probe = await sandbox.probe(str(source), Limits())
    t = settings.transcode
    rungs, fps = plan_ladder(probe, configured_rungs(settings), max_frame_rate=t.max_frame_rate)
    encoder = X264Encoder(X264Encoder.Config(preset="ultrafast", threads=1))
    gop = max(1, round(fps * t.segment_seconds))
    out.mkdir(parents=True)
    plan = TranscodePlan(
        source=str(source),
        output_dir=str(out),
        rungs=[RungPlan(r, encoder.encoding(r, frame_rate=fps, gop=gop)) for r in rungs],
        frame_rate=fps,
        segment_seconds=t.segment_seconds,
        thumbnail_interval=t.thumbnail_interval,
    )
    return probe, plan, await sandbox.transcode(plan)


def default_ladder_is_what_the_matrix_expects() -> bool:
    rungs = configured_rungs(Settings())
    return [(r.name, r.height, r.video_bitrate, r.audio_bitrate) for r in rungs] == [
        ("360p", 360, 800_000, 96_000),
        ("720p", 720, 2_500_000, 128_000),
        ("1080p", 1080, 5_000_000, 192_000),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
async def test_source_matrix(tmp_path: Path, name: str) -> None:
    assert default_ladder_is_what_the_matrix_expects()
    case = CASES[name]
    source = make_clip(tmp_path / case.file, **case.clip)
    probe, _plan, result = await run_pipeline(source, tmp_path / "out")
    for key, value in case.probe.items():
        assert getattr(probe, key) == value, f"probe.{key}"

    report: OutputReport = check_outputs(tmp_path / "out", thumbnail_interval=4)

    # the ladder: names, sizes (even, never above the source), in master.m3u8 and result
    assert [(r.name, r.width, r.height) for r in result.renditions] == case.rungs
    assert [(r.name, *r.resolution) for r in report.renditions] == case.rungs
    assert {r.codecs for r in result.renditions} == {r.codecs for r in report.renditions}

    # time: the source's length, two or more segments, one thumbnail every 4 s
    seconds = float(case.clip["seconds"])
    assert report.duration == pytest.approx(result.duration, abs=1e-3)
    if not case.clip.get("vfr"):
        assert result.duration == pytest.approx(seconds, abs=0.02)
    assert len(report.renditions[0].segments) >= 2
    assert report.thumbnail_cues >= 2
    assert set(result.files) == {
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }

    for r in report.renditions:
        assert r.frame_rate == pytest.approx(case.fps, abs=1e-3)
        assert r.pix_fmt == "yuv420p"  # 8-bit 4:2:0 whatever came in (10-bit, 4:4:4)
        assert r.rotation == 0  # turned upright, no display matrix left behind
        assert r.audio == case.audio  # stereo 48 kHz AAC, or no audio track at all
        [step] = r.frame_steps  # constant frame rate, every slot filled
        assert r.frames * step == pytest.approx(result.duration, abs=0.01)

    if probe.rotation:
        # make_clip draws a red block at the top-left of the coded picture; turned 90°
        # clockwise for display it is at the top-right (as ffmpeg's autorotate shows it)
        img = report.renditions[0].first_frame
        red, green, _ = img.getpixel((img.width - 5, 5))
        assert red > 180
        assert green < 80
        red, green, _ = img.getpixel((5, 5))
        assert red < 80
