"""Real, tiny test media made with PyAV: a moving pattern and a tone."""

from __future__ import annotations

import math
import struct
from array import array
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
               ".avi": "avi", ".ts": "mpegts", ".flv": "flv"}  # fmt: skip


def _picture(width: int, height: int, i: int, fps: float) -> Image.Image:
    img = Image.new("RGB", (width, height), (i * 7 % 256, 90, 160))
    draw = ImageDraw.Draw(img)
    x = int((i * 4) % max(1, width))
    draw.rectangle([x, height // 4, x + width // 8, height // 2], fill=(255, 255, 0))
    draw.rectangle([0, 0, width // 6, height // 6], fill=(255, 0, 0))  # marks the top-left
    draw.text((4, height - 14), f"{i / fps:5.2f}", fill=(255, 255, 255))
    return img


def make_clip(
    path: Path | str,
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 3.0,
    fps: int | float | Fraction = 30,
    audio: bool = True,
    audio_channels: int = 2,
    audio_rate: int = 48000,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    container: str | None = None,
    rotation: int = 0,
    vfr: bool = False,
    sar: tuple[int, int] | None = None,
) -> Path:
    """Write a clip; ``rotation`` is clockwise degrees to turn the picture for display."""
    path = Path(path)
    fmt = container or _CONTAINERS.get(path.suffix.lower(), "mp4")
    rate = Fraction(fps).limit_denominator(1001)
    out = av.open(str(path), "w", format=fmt)
    opts = {"preset": "ultrafast"} if codec == "libx264" else {}
    v = out.add_stream(codec, rate=rate, options=opts)
    v.width, v.height, v.pix_fmt = width, height, pix_fmt
    # VFR: a millisecond clock with uneven gaps; CFR: one tick per frame
    v.codec_context.time_base = Fraction(1, 1000) if vfr else 1 / rate
    if sar is not None:
        v.codec_context.sample_aspect_ratio = Fraction(*sar)
    if rotation:
        v.set_display_rotation(-rotation)  # PyAV's angle is counter-clockwise
    a = None
    if audio:
        layout = {1: "mono", 2: "stereo", 6: "5.1"}[audio_channels]
        a = out.add_stream("aac", rate=audio_rate)
        a.layout = layout
    frames = max(1, round(seconds * float(rate)))
    t_ms = 0
    for i in range(frames):
        frame = av.VideoFrame.from_image(_picture(width, height, i, float(rate)))
        if vfr:
            frame.pts, frame.time_base = t_ms, Fraction(1, 1000)
            t_ms += 20 if (i // 5) % 2 == 0 else 50  # bursts of 50 fps and 20 fps
        else:
            frame.pts, frame.time_base = i, 1 / rate
        out.mux(v.encode(frame.reformat(format=pix_fmt)))
    out.mux(v.encode(None))
    if a is not None:
        total = int(t_ms / 1000 * audio_rate) if vfr else int(frames / float(rate) * audio_rate)
        size = 1024
        channels = audio_channels
        layout_name = a.layout.name
        for start in range(0, total, size):
            n = min(size, total - start)
            af = av.AudioFrame(format="fltp", layout=layout_name, samples=n)
            af.sample_rate = audio_rate
            step = 2 * math.pi * 440 / audio_rate
            tone = array("f", (0.2 * math.sin(step * (start + k)) for k in range(n))).tobytes()
            for ch in range(channels):
                af.planes[ch].update(tone)
            af.pts = start
            af.time_base = Fraction(1, audio_rate)
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    out.close()
    return path


def riff_chunk(fourcc: bytes, data: bytes) -> bytes:
    """A RIFF chunk (AVI building block), padded to an even size."""
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def riff_list(kind: bytes, *items: bytes) -> bytes:
    return riff_chunk(b"LIST", kind + b"".join(items))


def bare_avi(stream_type: bytes, strf: bytes, chunk_id: bytes, payload: bytes) -> bytes:
    """A minimal one-stream AVI: ``stream_type`` is b"vids", b"auds" or b"txts"."""
    avih = struct.pack("<14I", 100_000, 0, 0, 0x10, 1, 0, 1, 0, 160, 96, 0, 0, 0, 0)
    strh = stream_type + b"ZZZZ" + struct.pack("<IHHIIIIIIII4h", 0, 0, 0, 0, 1, 10, 0, 1, 0,
                                               0xFFFFFFFF, 0, 0, 0, 160, 96)  # fmt: skip
    strl = riff_list(b"strl", riff_chunk(b"strh", strh), riff_chunk(b"strf", strf))
    hdrl = riff_list(b"hdrl", riff_chunk(b"avih", avih), strl)
    body = b"AVI " + hdrl + riff_list(b"movi", riff_chunk(chunk_id, payload))
    return b"RIFF" + struct.pack("<I", len(body)) + body
