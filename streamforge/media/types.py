"""Plain data passed between the job runner, the ladder planner and the media child process.

Everything here is picklable/JSON-able: plans cross a process boundary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Caps applied to untrusted media and to the child process that handles it."""

    max_pixels: int = 8192 * 4320  # width * height of the (coded) picture
    max_duration: float = 6 * 3600.0  # seconds
    max_streams: int = 16
    max_output_bytes: int = 50 * 1024**3
    memory_bytes: int = 4 * 1024**3  # RLIMIT_AS of the child
    cpu_seconds: int = 6 * 3600  # RLIMIT_CPU of the child
    wall_seconds: float = 6 * 3600.0  # killed by the parent after this
    #: Killed when it reports nothing (no progress, no answer) for this long: a decoder
    #: stuck on a hostile file must not hold a worker until the wall-time limit.
    stall_seconds: float = 300.0


@dataclass(frozen=True)
class ProbeResult:
    """What the sandboxed probe learned about a source file."""

    format_name: str
    duration: float  # seconds
    width: int  # display width (after rotation and sample aspect ratio)
    height: int  # display height
    coded_width: int
    coded_height: int
    rotation: int  # degrees, one of 0, 90, 180, 270
    sample_aspect_ratio: tuple[int, int]
    frame_rate: float  # average frames per second
    is_vfr: bool
    video_codec: str
    pix_fmt: str
    bit_depth: int
    has_audio: bool
    audio_codec: str | None = None
    audio_channels: int = 0
    audio_sample_rate: int = 0
    audio_layout: str | None = None
    stream_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        data = dict(data)
        data["sample_aspect_ratio"] = tuple(data["sample_aspect_ratio"])
        return cls(**data)


@dataclass(frozen=True)
class Rung:
    """One rendition to produce: its label, output size and bitrates (bits per second)."""

    name: str  # e.g. "720p"; the short side of the picture
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int


@dataclass(frozen=True)
class VideoEncoding:
    """How one rung's video is encoded: an FFmpeg encoder name and its options."""

    codec: str  # e.g. "libx264", "h264_nvenc"
    options: dict[str, str] = field(default_factory=dict)
    pix_fmt: str = "yuv420p"


@dataclass(frozen=True)
class RungPlan:
    """A rung together with the encoder settings chosen for it."""

    rung: Rung
    encoding: VideoEncoding


@dataclass(frozen=True)
class TranscodePlan:
    """Everything the media child needs to produce one video's outputs."""

    source: str  # local path of the source file
    output_dir: str  # empty local folder the child writes into
    rungs: list[RungPlan]
    frame_rate: float  # output frames per second (source rate, capped)
    segment_seconds: int = 4
    thumbnail_interval: int = 4  # seconds between preview thumbnails
    thumbnail_width: int = 160
    sprite_columns: int = 10
    sprite_rows: int = 10
    limits: Limits = field(default_factory=Limits)

    @property
    def gop(self) -> int:
        """Frames per GOP: one closed GOP per segment, identical in every rung."""
        return max(1, round(self.frame_rate * self.segment_seconds))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscodePlan:
        data = dict(data)
        data["rungs"] = [
            RungPlan(rung=Rung(**r["rung"]), encoding=VideoEncoding(**r["encoding"]))
            for r in data["rungs"]
        ]
        data["limits"] = Limits(**data["limits"])
        return cls(**data)


@dataclass(frozen=True)
class RenditionInfo:
    """A finished rendition, as listed in ``master.m3u8`` and ``manifest.json``."""

    name: str
    width: int
    height: int
    bandwidth: int  # peak bits per second (HLS BANDWIDTH)
    average_bandwidth: int
    codecs: str  # RFC 6381, e.g. "avc1.64001f,mp4a.40.2"
    frame_rate: float
    playlist: str  # path relative to the output folder, e.g. "hls/720p/playlist.m3u8"


@dataclass(frozen=True)
class TranscodeResult:
    """What the child produced. Paths are relative to the plan's ``output_dir``."""

    duration: float
    renditions: list[RenditionInfo]
    files: list[str]  # every file written, relative paths with "/" separators
    master_playlist: str = "hls/master.m3u8"
    manifest: str = "hls/manifest.json"
    thumbnails_vtt: str | None = "thumbs/thumbnails.vtt"
    poster: str | None = "poster.jpg"
    #: rung name -> seconds its thread spent scaling, encoding and muxing
    rung_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscodeResult:
        data = dict(data)
        data["renditions"] = [RenditionInfo(**r) for r in data["renditions"]]
        return cls(**data)


@dataclass(frozen=True)
class Progress:
    """A progress report from the child: overall percent and what it is doing."""

    percent: float
    stage: str  # "probe" | "transcode" | "package" | "thumbnails"
    rung: str | None = None
