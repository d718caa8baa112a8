"""plan_ladder: no upscaling, short-side labels, even sizes, frame-rate cap."""

from __future__ import annotations

import pytest

from streamforge.media.ladder import plan_ladder
from streamforge.media.types import ProbeResult, Rung

LADDER = [
    Rung("1080p", 0, 1080, 5_000_000, 160_000),
    Rung("720p", 0, 720, 3_000_000, 128_000),
    Rung("360p", 0, 360, 800_000, 96_000),
]


def source(width: int, height: int, fps: float = 30.0) -> ProbeResult:
    return ProbeResult(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=10.0,
        width=width,
        height=height,
        coded_width=width,
        coded_height=height,
        rotation=0,
        sample_aspect_ratio=(1, 1),
        frame_rate=fps,
        is_vfr=False,
        video_codec="h264",
        pix_fmt="yuv420p",
        bit_depth=8,
        has_audio=True,
    )


def sizes(rungs: list[Rung]) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in rungs]


def test_1080p_source_gets_three_rungs() -> None:
    rungs, fps = plan_ladder(source(1920, 1080), LADDER)
    assert sizes(rungs) == [("360p", 640, 360), ("720p", 1280, 720), ("1080p", 1920, 1080)]
    assert fps == 30.0
    assert rungs[0].video_bitrate == 800_000


def test_480p_source_keeps_only_360p() -> None:
    rungs, _ = plan_ladder(source(854, 480), LADDER)
    assert sizes(rungs) == [("360p", 640, 360)]


def test_source_below_lowest_rung_gets_its_own_size() -> None:
    rungs, _ = plan_ladder(source(426, 240), LADDER)
    assert sizes(rungs) == [("240p", 426, 240)]
    assert (rungs[0].video_bitrate, rungs[0].audio_bitrate) == (800_000, 96_000)


def test_odd_tiny_source_is_not_upscaled() -> None:
    rungs, _ = plan_ladder(source(319, 239), LADDER)
    assert sizes(rungs) == [("238p", 318, 238)]


def test_portrait_is_labelled_by_its_short_side() -> None:
    rungs, _ = plan_ladder(source(1080, 1920), LADDER)
    assert sizes(rungs) == [("360p", 360, 640), ("720p", 720, 1280), ("1080p", 1080, 1920)]


def test_odd_sizes_round_to_even() -> None:
    rungs, _ = plan_ladder(source(1918, 1078), LADDER)
    # 720 × 1918 / 1078 = 1281.04: the nearest even width keeping the display aspect
    assert sizes(rungs) == [("360p", 640, 360), ("720p", 1282, 720)]
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in rungs)


@pytest.mark.parametrize(("fps", "cap", "expected"), [(120.0, 60, 60.0), (29.97, 60, 29.97),
                                                      (50.0, 30, 30.0)])  # fmt: skip
def test_frame_rate_is_capped(fps: float, cap: float, expected: float) -> None:
    _, rate = plan_ladder(source(1280, 720, fps), LADDER, max_frame_rate=cap)
    assert rate == expected


def test_empty_ladder_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rungs"):
        plan_ladder(source(1280, 720), [])


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (427, 240, [("240p", 426, 240)]),  # 427 rounds half-to-even up to 428: clamped
        (1281, 720, [("360p", 640, 360), ("720p", 1280, 720)]),
        (720, 1281, [("360p", 360, 640), ("720p", 720, 1280)]),
        (427, 241, [("240p", 426, 240)]),  # 240 × 427 / 241 = 425.2
    ],
)
def test_even_rounding_never_exceeds_the_source(
    width: int, height: int, expected: list[tuple[str, int, int]]
) -> None:
    rungs, _ = plan_ladder(source(width, height), LADDER)
    assert sizes(rungs) == expected
    assert all(r.width <= width and r.height <= height for r in rungs)
