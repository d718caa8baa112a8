"""Hostile and broken inputs: refused with a clear reason, never followed, never fatal."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from streamforge.errors import MediaError, MediaRefused
from streamforge.media import sandbox
from streamforge.media.types import Limits
from tests.media.helpers import small_plan
from tests.mediagen import bare_avi, make_clip

LIMITS = Limits()
PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


def huge_png() -> bytes:
    """A PNG header claiming 65535×65535 pixels (FACTS: png_pipe would decode it)."""
    ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00" * 64
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.mp4", b"", "not a supported video file: the file is empty"),
        ("list.m3u8", PLAYLIST.encode(), "it looks like an HLS playlist"),
        ("list.mkv", PLAYLIST.encode(), "it looks like an HLS playlist"),
        ("list.avi", b"\n\n" + PLAYLIST.encode(), "it looks like an HLS playlist"),
        ("c.txt", b"ffconcat version 1.0\nfile '/etc/passwd'\n", "it looks like an ffconcat"),
        ("m.mpd", b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">',
         "it looks like an XML document (DASH manifest?)"),
        ("photo.mp4", huge_png(), "it looks like a PNG image"),
        ("s.sdp", b"v=0\no=- 0 0 IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 96\n",
         "it looks like an SDP session description"),
    ],
)  # fmt: skip
async def test_refused_by_content(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaRefused, match=r"^not a supported video file: ") as info:
        await sandbox.probe(str(path), LIMITS)
    assert message in str(info.value)


async def test_playlist_without_magic_is_refused_by_the_whitelist(tmp_path: Path) -> None:
    """A concat list FFmpeg detects but our byte sniffing does not: the demuxer allowlist."""
    path = tmp_path / "list.ffconcat"
    path.write_bytes(b"# comment first\nffconcat version 1.0\nfile '/etc/passwd'\n")
    with pytest.raises(MediaRefused, match="not a supported video file") as info:
        await sandbox.probe(str(path), LIMITS)
    assert "/etc/passwd" not in str(info.value)


async def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(MediaRefused, match="not a supported video file"):
        await sandbox.probe(str(path), LIMITS)


async def test_truncated_mp4(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "whole.mp4", seconds=1.0)
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="damaged"):
        await sandbox.probe(str(cut), LIMITS)


async def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    import av

    path = tmp_path / "tone.mka"
    with av.open(str(path), "w", format="matroska") as out:
        a = out.add_stream("aac", rate=48000)
        for _ in range(5):
            frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
            frame.sample_rate = 48000
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            out.mux(a.encode(frame))
        out.mux(a.encode(None))
    with pytest.raises(MediaRefused, match="no video stream"):
        await sandbox.probe(str(path), LIMITS)


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="could not read the media file"):
        await sandbox.probe(str(tmp_path / "nope.mp4"), LIMITS)


@pytest.mark.parametrize(
    ("kind", "strf", "chunk", "message"),
    [
        (b"vids", struct.pack("<IiiHH4sIiiII", 40, 160, 96, 1, 24, b"ZZZZ", 0, 0, 0, 0, 0),
         b"00dc", "the file's video codec is not supported"),
        (b"auds", struct.pack("<HHIIHH", 0x7777, 2, 48000, 1000, 4, 16), b"00wb",
         "the file has no video stream"),
    ],
)  # fmt: skip
async def test_unknown_codec_is_refused_clearly(
    tmp_path: Path, kind: bytes, strf: bytes, chunk: bytes, message: str
) -> None:
    """A stream FFmpeg has no decoder for used to surface as an AttributeError on None."""
    path = tmp_path / "odd.avi"
    path.write_bytes(bare_avi(kind, strf, chunk, bytes(100)))
    with pytest.raises(MediaRefused) as info:
        await sandbox.probe(str(path), LIMITS)
    assert message in str(info.value)


async def test_transcode_refuses_a_file_without_video(tmp_path: Path) -> None:
    """Transcode re-opens the source: a swapped file must not die with an IndexError."""
    clip = make_clip(tmp_path / "a.mp4", width=160, height=96, seconds=1.0, fps=10)
    probe = await sandbox.probe(str(clip), LIMITS)
    swapped = tmp_path / "swapped.avi"
    swapped.write_bytes(bare_avi(b"auds", struct.pack("<HHIIHH", 1, 2, 48000, 192000, 4, 16),
                                 b"00wb", bytes(400)))  # fmt: skip
    plan = small_plan(probe, swapped, tmp_path / "out")
    with pytest.raises(MediaRefused, match="the file has no video stream"):
        await sandbox.transcode(plan)
