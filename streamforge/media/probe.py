"""Learn what a source file is: size, rotation, frame rate, codecs. Runs inside the child."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import av
import av.container
import av.video.stream

from streamforge.errors import MediaError, MediaRefused
from streamforge.media.formats import header_duration, open_untrusted
from streamforge.media.types import Limits, ProbeResult

#: Packets looked at to tell constant from variable frame rate.
VFR_SAMPLE_PACKETS = 240


def display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """The picture's size as shown: non-square pixels widen it, 90/270° turn it.

    Not rounded to even and never rounded up: the ladder rounds *down* to even sizes, so
    an odd 319×239 source gets 318×238, never an upscaled 320×240.
    """
    w = max(1, math.floor(width * sar)) if sar != 1 else width
    h = height
    return (h, w) if rotation in (90, 270) else (w, h)


def rotation_from(stream: av.video.stream.VideoStream, first_rotation: int | None) -> int:
    """Clockwise degrees (0/90/180/270) the coded picture must turn to be shown upright.

    ``VideoFrame.rotation`` is the counter-clockwise angle of the display matrix; the old
    ``rotate`` tag is clockwise.
    """
    if first_rotation:
        degrees = -first_rotation
    else:
        try:
            degrees = int(float(stream.metadata.get("rotate", "0")))
        except ValueError:
            degrees = 0
    return (round(degrees / 90) * 90) % 360


def _first_frame_rotation(container: av.container.InputContainer, index: int) -> int | None:
    stream = container.streams.video[index]
    try:
        for frame in container.decode(stream):
            return frame.rotation
    except av.error.FFmpegError:
        return None
    return None


def _packet_timing(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[bool, float | None, float]:
    """(is_vfr, measured fps or None, last packet end in seconds) from the first packets."""
    tb = stream.time_base or Fraction(1, 90000)
    stamps: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                stamps.append(packet.pts)
            if len(stamps) >= VFR_SAMPLE_PACKETS:
                break
    except av.error.FFmpegError:
        pass
    stamps.sort()
    deltas = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    if len(deltas) < 2:
        return False, None, float(stamps[-1] * tb) if stamps else 0.0
    shortest, longest = min(deltas), max(deltas)
    measured = float(len(deltas) / ((stamps[-1] - stamps[0]) * tb))
    # Container rounding makes a 29.97 fps stream alternate 33/34 ms: allow ~1.5 ticks.
    is_vfr = longest - shortest > max(2, shortest // 8)
    return is_vfr, measured, float((stamps[-1] + deltas[-1]) * tb)


def probe_file(path: str, limits: Limits) -> ProbeResult:
    """Probe ``path`` with the container allowlist and ``limits``; refuse what is unfit."""
    container = open_untrusted(path, limits)
    with container:
        if not container.streams.video:
            raise MediaRefused("the file has no video stream")
        video = container.streams.video[0]
        ctx = video.codec_context
        pix_fmt = ctx.pix_fmt or ""
        if not ctx.width or not ctx.height or not pix_fmt:
            raise MediaError("the video stream has no picture size; the file may be damaged")
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = header_duration(container)
        is_vfr, measured_fps, packets_end = _packet_timing(container, video)
        container.seek(0)
        rotation = rotation_from(video, _first_frame_rotation(container, video.index))
        if duration <= 0:
            duration = packets_end
        if duration <= 0:
            raise MediaError("the video's duration is unknown; the file may be damaged")
        rate = video.average_rate or video.guessed_rate or video.base_rate
        frame_rate = float(rate) if rate else (measured_fps or 25.0)
        if measured_fps and (frame_rate <= 0 or frame_rate > 1000):
            frame_rate = measured_fps
        sar = video.sample_aspect_ratio or Fraction(1, 1)
        if sar <= 0:
            sar = Fraction(1, 1)
        display_w, display_h = display_size(ctx.width, ctx.height, sar, rotation)
        try:
            bit_depth = av.VideoFormat(pix_fmt).components[0].bits
        except (ValueError, IndexError):
            bit_depth = 8
        return ProbeResult(
            format_name=container.format.name,
            duration=duration,
            width=display_w,
            height=display_h,
            coded_width=ctx.width,
            coded_height=ctx.height,
            rotation=rotation,
            sample_aspect_ratio=(sar.numerator, sar.denominator),
            frame_rate=round(frame_rate, 3),
            is_vfr=is_vfr,
            video_codec=video.codec_context.name,
            pix_fmt=pix_fmt,
            bit_depth=bit_depth,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_channels=audio.codec_context.channels if audio else 0,
            audio_sample_rate=audio.codec_context.sample_rate if audio else 0,
            audio_layout=audio.codec_context.layout.name if audio else None,
            stream_count=len(container.streams),
        )
