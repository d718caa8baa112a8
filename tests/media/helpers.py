"""Small x264 plans for the transcode tests."""

from __future__ import annotations

from pathlib import Path

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
