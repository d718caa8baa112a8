"""Probing real generated media through the sandbox."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from streamforge.errors import MediaRefused
from streamforge.media import sandbox
from streamforge.media.types import Limits
from tests.mediagen import make_clip

LIMITS = Limits()


async def test_plain_clip(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", width=320, height=240, seconds=1.0)
    p = await sandbox.probe(str(clip), LIMITS)
    assert (p.width, p.height, p.coded_width, p.coded_height) == (320, 240, 320, 240)
    assert p.duration == pytest.approx(1.0, abs=0.1)
    assert p.frame_rate == pytest.approx(30.0)
    assert not p.is_vfr
    assert (p.video_codec, p.pix_fmt, p.bit_depth) == ("h264", "yuv420p", 8)
    assert (p.audio_codec, p.audio_channels, p.audio_sample_rate) == ("aac", 2, 48000)
    assert p.stream_count == 2
    assert p.rotation == 0


async def test_rotation_swaps_display_size(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "phone.mp4", width=320, height=180, seconds=0.5, rotation=90)
    p = await sandbox.probe(str(clip), LIMITS)
    assert p.rotation == 90
    assert (p.width, p.height) == (180, 320)
    assert (p.coded_width, p.coded_height) == (320, 180)


async def test_non_square_pixels(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "anamorphic.mkv", width=360, height=240, seconds=0.5,
                     sar=(32, 27), audio=False)  # fmt: skip
    p = await sandbox.probe(str(clip), LIMITS)
    assert p.sample_aspect_ratio == (32, 27)
    assert (p.width, p.height) == (426, 240)


async def test_no_audio_and_surround_audio(tmp_path: Path) -> None:
    silent = make_clip(tmp_path / "silent.mp4", seconds=0.5, audio=False)
    p = await sandbox.probe(str(silent), LIMITS)
    assert not p.has_audio
    assert p.audio_codec is None
    surround = make_clip(tmp_path / "51.mp4", seconds=0.5, audio_channels=6, audio_rate=44100)
    p = await sandbox.probe(str(surround), LIMITS)
    assert (p.audio_channels, p.audio_layout, p.audio_sample_rate) == (6, "5.1", 44100)


async def test_variable_frame_rate(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "vfr.mkv", seconds=2.0, vfr=True, audio=False)
    assert (await sandbox.probe(str(clip), LIMITS)).is_vfr
    cfr = make_clip(tmp_path / "cfr.mkv", seconds=1.0, fps=30, audio=False)
    assert not (await sandbox.probe(str(cfr), LIMITS)).is_vfr


X264_FORMATS = {f.name for f in av.codec.Codec("libx264", "w").video_formats or ()}


@pytest.mark.skipif("yuv420p10le" not in X264_FORMATS, reason="libx264 here has no 10-bit")
async def test_ten_bit(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "10bit.mp4", seconds=0.5, pix_fmt="yuv420p10le", audio=False)
    p = await sandbox.probe(str(clip), LIMITS)
    assert (p.pix_fmt, p.bit_depth) == ("yuv420p10le", 10)


async def test_limits_are_checked_from_headers(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", width=320, height=240, seconds=1.0)
    with pytest.raises(MediaRefused, match=r"320×240, larger than the 10,000 pixel limit"):
        await sandbox.probe(str(clip), Limits(max_pixels=10_000))
    with pytest.raises(MediaRefused, match=r"lasts 1 s, longer than the 0 s limit"):
        await sandbox.probe(str(clip), Limits(max_duration=0.5))
    with pytest.raises(MediaRefused, match="2 streams; at most 1 are accepted"):
        await sandbox.probe(str(clip), Limits(max_streams=1))
