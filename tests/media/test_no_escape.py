"""Hostile inputs never make the media child open another file, a socket or a program.

The child (``python -m streamforge.media.child``) runs under ``strace -f`` with the very
request :mod:`streamforge.media.sandbox` sends it; the trace proves what it touched. Every
hostile file names ``/etc/passwd`` and a ``secret.txt`` holding a unique marker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import av
import pytest

from streamforge.media.types import Limits
from tests.conftest import need_service
from tests.media.helpers import small_plan
from tests.mediagen import bare_avi, make_clip

TRACED = "open,openat,openat2,connect,socket,execve"


def _strace_works() -> tuple[bool, str]:
    path = shutil.which("strace")
    if path is None:
        return False, "strace is not installed (apt-get install strace; see .ci/apt-packages)"
    probe = subprocess.run(
        [path, "-f", "-o", os.devnull, "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return False, f"strace cannot trace here (ptrace refused?): {probe.stderr.strip()}"
    return True, ""


@pytest.fixture(scope="module")
def strace() -> str:
    ok, why = _strace_works()
    need_service("strace", ok, why)
    return shutil.which("strace") or "strace"


# --- hostile files ------------------------------------------------------------------------


def playlist(secret: Path) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n"
        f'#EXT-X-MAP:URI="file://{secret}"\n'
        "#EXTINF:4,\nfile:///etc/passwd\n"
        f"#EXTINF:4,\n{secret}\n#EXTINF:4,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    ).encode()


def gab2_avi(payload: bytes) -> bytes:
    """An AVI with a text stream whose packet is a GAB2 block carrying ``payload``.

    FFmpeg's avi demuxer probes a GAB2 payload as a nested file while finding stream
    info: the old trick that smuggled an HLS playlist past the outer format check.
    """
    desc = "playlist".encode("utf-16-le") + b"\0\0"
    block = (
        b"GAB2\0\x02\x00"
        + struct.pack("<I", len(desc))
        + desc
        + b"\x04\x00"
        + struct.pack("<I", len(payload))
        + payload
    )
    return bare_avi(b"txts", b"\0" * 4, b"00tx", block)


def mkv_with_attachment(path: Path, payload: bytes) -> None:
    """A real, playable Matroska clip carrying the playlist as an attached file."""
    clip = make_clip(path.with_suffix(".tmp.mkv"), width=160, height=96, seconds=1.0, fps=10)
    with av.open(str(clip)) as src, av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        out.add_attachment("index.m3u8", "application/vnd.apple.mpegurl", payload)
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
    clip.unlink()


def huge_png() -> bytes:
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 65535, 65535, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def truncated_mp4(path: Path) -> None:
    whole = make_clip(path.with_suffix(".whole.mp4"), width=160, height=96, seconds=1.0)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()


Maker = Callable[[Path, Path], None]  # (hostile file, secret file)


def _write(data: Callable[[Path], bytes]) -> Maker:
    def make(path: Path, secret: Path) -> None:
        path.write_bytes(data(secret))

    return make


# name -> (file name, how to make it, the child's reply: "error" or "ok")
HOSTILE: dict[str, tuple[str, Maker, str]] = {
    "playlist-named-mkv": ("upload.mkv", _write(playlist), "error"),
    "playlist-named-avi": ("upload.avi", _write(lambda s: b"\r\n" + playlist(s)), "error"),
    "avi-gab2-playlist": ("upload.avi", _write(lambda s: gab2_avi(playlist(s))), "error"),
    "mkv-playlist-attachment": (
        "upload.mkv",
        lambda p, s: mkv_with_attachment(p, playlist(s)),
        "ok",
    ),
    "m3u8-upload": ("upload.m3u8", _write(playlist), "error"),
    "ffconcat": (
        "upload.mp4",
        _write(lambda s: f"ffconcat version 1.0\nfile '{s}'\n".encode()),
        "error",
    ),
    "ffconcat-after-comment": (
        "upload.ffconcat",
        _write(lambda s: f"# hi\nffconcat version 1.0\nfile '{s}'\nfile '/etc/passwd'\n".encode()),
        "error",
    ),
    "mpd": (
        "upload.mpd",
        _write(
            lambda s: (
                '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
                f"<Period><AdaptationSet><Representation id='1' bandwidth='1'><BaseURL>file://{s}"
                "</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
            ).encode()
        ),
        "error",
    ),
    "png-65535-as-mp4": ("upload.mp4", _write(lambda s: huge_png()), "error"),
    "truncated-mp4": ("upload.mp4", lambda p, s: truncated_mp4(p), "error"),
    "random-bytes": ("upload.mp4", _write(lambda s: os.urandom(64 * 1024)), "error"),
    "zero-bytes": ("upload.mp4", _write(lambda s: b""), "error"),
}


# --- running the child under strace -------------------------------------------------------


def run_traced(strace: str, request: dict[str, Any], log: Path) -> tuple[dict[str, Any], str]:
    """Run the child as sandbox._run_child does; return its last message and the trace."""
    command = [strace, "-f", "-qq", "-e", f"trace={TRACED}", "-o", str(log)]
    command += [sys.executable, "-m", "streamforge.media.child"]
    proc = subprocess.run(
        command,
        input=json.dumps(request).encode() + b"\n",
        capture_output=True,
        timeout=120,
        check=False,
    )
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    final = [m for m in messages if m.get("type") in ("result", "error")]
    assert final, f"the child answered nothing (status {proc.returncode}): {proc.stderr[-2000:]!r}"
    return final[-1], log.read_text(encoding="utf-8", errors="replace")


def assert_contained(trace: str, secret: Path) -> None:
    """Nothing in ``trace`` touches the secret, /etc/passwd, the network or a program."""
    lines = trace.splitlines()
    assert lines, "strace recorded nothing"
    touched = [ln for ln in lines if str(secret) in ln or "secret.txt" in ln or "passwd" in ln]
    assert not touched, "opened a file the input named:\n" + "\n".join(touched)
    sockets = [ln for ln in lines if re.search(r"\b(socket|connect)\(", ln)]
    not_unix = [ln for ln in sockets if "AF_UNIX" not in ln and "AF_LOCAL" not in ln]
    assert not not_unix, "opened a network socket:\n" + "\n".join(not_unix)
    execs = [ln for ln in lines if re.search(r"\bexecve\(", ln)]
    assert len(execs) == 1, "started another program:\n" + "\n".join(execs)
    assert "streamforge" not in execs[0] or sys.executable in execs[0]


def secret_file(tmp_path: Path) -> tuple[Path, str]:
    marker = f"SECRET-{uuid.uuid4().hex}"
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{marker}\n", encoding="utf-8")
    return secret, marker


def assert_reply(reply: dict[str, Any], expected: str, marker: str) -> None:
    text = json.dumps(reply)
    assert marker not in text
    assert "root:x:0:0" not in text
    if expected == "ok":
        assert reply["type"] == "result", reply
        return
    assert reply["type"] == "error", reply
    message = str(reply["message"])
    assert message.startswith(("not a supported video file", "the file", "the video")), message
    assert "Error" not in message.split(":", 1)[0], f"not a human reason: {message}"


@pytest.mark.parametrize("case", list(HOSTILE))
def test_probe_of_hostile_input_opens_nothing_else(strace: str, tmp_path: Path, case: str) -> None:
    name, make, expected = HOSTILE[case]
    secret, marker = secret_file(tmp_path)
    upload = tmp_path / "upload" / name
    upload.parent.mkdir()
    make(upload, secret)
    request = {"op": "probe", "path": str(upload), "limits": asdict(Limits())}
    reply, trace = run_traced(strace, request, tmp_path / "strace.log")
    assert_reply(reply, expected, marker)
    assert_contained(trace, secret)
    assert str(upload) in trace, "the trace does not show the upload being read"


@pytest.mark.parametrize("case", ["mkv-playlist-attachment", "avi-gab2-playlist", "random-bytes"])
def test_transcode_of_hostile_input_opens_nothing_else(
    strace: str, tmp_path: Path, case: str
) -> None:
    """The transcode request opens the source again: same guarantees, outputs aside."""
    from streamforge.media.types import ProbeResult

    name, make, expected = HOSTILE[case]
    secret, marker = secret_file(tmp_path)
    upload = tmp_path / "upload" / name
    upload.parent.mkdir()
    make(upload, secret)
    probe = ProbeResult("matroska,webm", 1.0, 160, 96, 160, 96, 0, (1, 1), 10.0, False,
                        "h264", "yuv420p", 8, False)  # fmt: skip
    plan = small_plan(probe, upload, tmp_path / "out")
    reply, trace = run_traced(strace, {"op": "transcode", "plan": plan.to_dict()}, tmp_path / "t")
    assert_reply(reply, expected, marker)
    assert_contained(trace, secret)
    if expected == "ok":
        assert (tmp_path / "out" / "hls" / "master.m3u8").is_file()
