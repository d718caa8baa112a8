"""The container allowlist and the one safe way to open untrusted media.

FFmpeg picks a demuxer by sniffing the first bytes (and the file name). Some demuxers
open other files or URLs while reading their header (hls, concat, dash, image sequences,
mov data references…), so the demuxer choice itself is the attack surface. We let
FFmpeg probe with ``format_whitelist`` set, which makes ``avformat_open_input`` refuse a
demuxer outside the allowlist *after* probing the bytes and *before* it reads a header,
together with ``protocol_whitelist=file`` and the mov data-reference path switched off.
"""

from __future__ import annotations

from typing import Any

import av
import av.container

from streamforge.errors import MediaError, MediaRefused
from streamforge.media.types import Limits

#: Single-file containers we demux. Names are FFmpeg demuxer names; a demuxer whose name
#: lists several formats ("mov,mp4,m4a,3gp,3g2,mj2") is matched by any of them.
ALLOWED_FORMATS: tuple[str, ...] = (
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "avi",
    "mpegts",
    "flv",
    "ogg",
    "mpeg",
    "asf",
)

#: Options for every untrusted open: only local files, only allowed demuxers, and no
#: references from a mov/mp4 to other files (``enable_drefs`` is off by default in FFmpeg;
#: we keep it off explicitly so a change of default cannot reach us).
SAFE_OPTIONS: dict[str, str] = {
    "protocol_whitelist": "file",
    "format_whitelist": ",".join(ALLOWED_FORMATS),
    "enable_drefs": "0",
    "use_absolute_path": "0",
}

_NOT_SUPPORTED = "not a supported video file"

# What a refused file most likely is, from its first bytes: for the message only.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"#EXTM3U", "an HLS playlist"),
    (b"ffconcat", "an ffconcat list"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"v=0", "an SDP session description"),
)


def is_allowed(format_name: str) -> bool:
    """True when every name of a demuxer (``"mov,mp4,…"``) is in the allowlist."""
    return all(name in ALLOWED_FORMATS for name in format_name.split(","))


def _describe(head: bytes) -> str | None:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, what in _SIGNATURES:
        if stripped.startswith(magic):
            return what
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<MPD"):
        return "an XML document (DASH manifest?)" if b"MPD" in head else "an XML document"
    return None


def _refusal(path: str, exc: Exception, head: bytes) -> MediaError:
    log: Any = getattr(exc, "log", None)
    demuxer = log[1] if isinstance(log, tuple) and len(log) >= 3 else None
    message = str(log[2]) if isinstance(log, tuple) and len(log) >= 3 else ""
    if demuxer and "not on whitelist" in message:
        what = _describe(head)
        suffix = f" (it looks like {what})" if what else ""
        return MediaRefused(f"{_NOT_SUPPORTED}: format '{demuxer}' is not allowed{suffix}")
    what = _describe(head)
    if what:
        return MediaRefused(f"{_NOT_SUPPORTED}: it looks like {what}")
    if isinstance(exc, av.error.InvalidDataError):
        detail = f" ({message.strip()})" if message.strip() else ""
        return MediaRefused(f"{_NOT_SUPPORTED}: the file is damaged or not a video{detail}")
    return MediaError(f"could not open the media file: {exc}")


def open_untrusted(path: str, limits: Limits) -> av.container.InputContainer:
    """Open ``path`` for demuxing if its container is allowed and its headers are in limits.

    Raises :class:`MediaRefused` (format not allowed, empty, over a limit) or
    :class:`MediaError` (unreadable). Nothing is decoded here.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise MediaError(f"could not read the media file: {exc.strerror}") from exc
    if not head:
        raise MediaRefused(f"{_NOT_SUPPORTED}: the file is empty")
    described = _describe(head)
    if described:  # refuse on the bytes alone; FFmpeg never sees the file
        raise MediaRefused(f"{_NOT_SUPPORTED}: it looks like {described}")
    try:
        container = av.open(path, "r", options=dict(SAFE_OPTIONS))
    except (av.error.FFmpegError, OSError) as exc:
        raise _refusal(path, exc, head) from exc
    try:
        check_container(container, limits)
    except BaseException:
        container.close()
        raise
    return container


def check_container(container: av.container.InputContainer, limits: Limits) -> None:
    """Refuse a demuxed file whose headers exceed ``limits`` (before any decoding)."""
    name = container.format.name
    if not is_allowed(name):  # belt and braces: format_whitelist already refused it
        raise MediaRefused(f"{_NOT_SUPPORTED}: format '{name}' is not allowed")
    streams = container.streams
    if len(streams) > limits.max_streams:
        raise MediaRefused(
            f"the file has {len(streams)} streams; at most {limits.max_streams} are accepted"
        )
    if not streams.video:
        raise MediaRefused("the file has no video stream")
    # No decoder means no codec context: refuse here rather than fail later on None.
    for kind, group in (("video", streams.video), ("audio", streams.audio)):
        if group and group[0].codec_context is None:
            raise MediaRefused(
                f"the file's {kind} codec is not supported (no decoder for it); "
                "convert it to H.264/AAC or another common codec"
            )
    for stream in streams.video:
        ctx: Any = stream.codec_context  # None when FFmpeg has no decoder for it
        if ctx is None:
            continue  # only the first video stream is used
        w, h = int(ctx.width or 0), int(ctx.height or 0)
        if w * h > limits.max_pixels:
            raise MediaRefused(
                f"the video is {w}×{h}, larger than the {limits.max_pixels:,} pixel limit"
            )
    duration = header_duration(container)
    if duration > limits.max_duration:
        raise MediaRefused(
            f"the video lasts {duration:.0f} s, longer than the {limits.max_duration:.0f} s limit"
        )


def header_duration(container: av.container.InputContainer) -> float:
    """Duration in seconds from the container or stream headers; 0.0 when unknown."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000
    best = 0.0
    for stream in container.streams:
        if stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    return best
