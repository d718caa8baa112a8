"""After muxing: measure each rung's playlist, write ``master.m3u8`` and ``manifest.json``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from streamforge.errors import MediaError
from streamforge.media.types import RenditionInfo, TranscodePlan, TranscodeResult

AAC_LC = "mp4a.40.2"


@dataclass(frozen=True)
class Segment:
    uri: str  # relative to the rung's folder
    duration: float
    size: int


def parse_playlist(path: Path) -> list[Segment]:
    """The segments of a media playlist we wrote (``#EXTINF`` followed by a URI)."""
    segments: list[Segment] = []
    duration: float | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append(Segment(line, duration, (path.parent / line).stat().st_size))
            duration = None
    if not segments:
        raise MediaError(f"the muxer wrote no segments for {path.parent.name}")
    return segments


def avc_codec_string(extradata: bytes) -> str:
    """RFC 6381 ``avc1.PPCCLL`` from an avcC record (profile, constraints, level)."""
    if len(extradata) < 4 or extradata[0] != 1:
        raise MediaError("the H.264 encoder wrote no avcC record; cannot name its codec")
    return f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"


def codecs_of(init: Path) -> str:
    """The CODECS value for a rung, read back from its own init segment."""
    with av.open(str(init), "r", format="mp4") as container:
        parts: list[str] = []
        for stream in container.streams.video:
            name = stream.codec_context.name
            extradata = stream.codec_context.extradata
            if name != "h264" or not extradata:
                raise MediaError(f"cannot name the codec '{name}' for HLS")
            parts.append(avc_codec_string(bytes(extradata)))
        for audio in container.streams.audio:
            if audio.codec_context.name != "aac":
                raise MediaError(f"cannot name the audio codec '{audio.codec_context.name}'")
            parts.append(AAC_LC)
    return ",".join(parts)


def bandwidths(segments: list[Segment], init_size: int) -> tuple[int, int]:
    """(peak, average) bits per second; the init segment counts once, with the first."""
    peak = 0.0
    total_bytes = init_size
    total_seconds = 0.0
    for i, seg in enumerate(segments):
        size = seg.size + (init_size if i == 0 else 0)
        total_bytes += seg.size
        total_seconds += seg.duration
        if seg.duration > 0:
            peak = max(peak, size * 8 / seg.duration)
    average = total_bytes * 8 / total_seconds if total_seconds > 0 else 0.0
    return math.ceil(peak), math.ceil(average)


def _master(renditions: list[RenditionInfo]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={r.bandwidth},AVERAGE-BANDWIDTH={r.average_bandwidth},"
            f'RESOLUTION={r.width}x{r.height},CODECS="{r.codecs}",FRAME-RATE={r.frame_rate:.3f}'
        )
        lines.append(f"{r.name}/playlist.m3u8")
    return "\n".join(lines) + "\n"


def package_outputs(plan: TranscodePlan, duration: float) -> TranscodeResult:
    """Write ``hls/master.m3u8`` and ``hls/manifest.json``; list every output file."""
    out = Path(plan.output_dir)
    hls = out / "hls"
    entries: list[tuple[RenditionInfo, dict[str, Any]]] = []
    for rp in plan.rungs:
        rung = rp.rung
        folder = hls / rung.name
        segments = parse_playlist(folder / "playlist.m3u8")
        init = folder / "init.mp4"
        codecs = codecs_of(init)
        peak, average = bandwidths(segments, init.stat().st_size)
        info = RenditionInfo(
            name=rung.name,
            width=rung.width,
            height=rung.height,
            bandwidth=peak,
            average_bandwidth=average,
            codecs=codecs,
            frame_rate=round(plan.frame_rate, 3),
            playlist=f"hls/{rung.name}/playlist.m3u8",
        )
        start = 0.0
        listed = []
        for seg in segments:
            listed.append(
                {
                    "url": f"{rung.name}/{seg.uri}",
                    "start": round(start, 6),
                    "duration": seg.duration,
                    "bytes": seg.size,
                }
            )
            start += seg.duration
        entries.append(
            (
                info,
                {
                    "name": rung.name,
                    "width": rung.width,
                    "height": rung.height,
                    "bandwidth": peak,
                    "average_bandwidth": average,
                    "codecs": codecs,
                    "frame_rate": info.frame_rate,
                    "mime": f'video/mp4; codecs="{codecs}"',
                    "init": f"{rung.name}/init.mp4",
                    "playlist": f"{rung.name}/playlist.m3u8",
                    "segments": listed,
                },
            )
        )
    entries.sort(key=lambda e: e[0].bandwidth)
    renditions = [e[0] for e in entries]
    (hls / "master.m3u8").write_text(_master(renditions), encoding="utf-8")
    thumbs_vtt = out / "thumbs" / "thumbnails.vtt"
    poster = out / "poster.jpg"
    manifest = {
        "version": 1,
        "duration": round(duration, 6),
        "segment_duration": plan.segment_seconds,
        "renditions": [e[1] for e in entries],
        "thumbnails": "../thumbs/thumbnails.vtt" if thumbs_vtt.is_file() else None,
        "poster": "../poster.jpg" if poster.is_file() else None,
    }
    (hls / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    return TranscodeResult(
        duration=duration,
        renditions=renditions,
        files=files,
        thumbnails_vtt="thumbs/thumbnails.vtt" if thumbs_vtt.is_file() else None,
        poster="poster.jpg" if poster.is_file() else None,
    )
