"""One rung's encoders and its HLS/CMAF muxer, fed with frames decoded once."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.audio.stream
import av.container
import av.video.stream
from av.video.frame import PictureType

from streamforge.errors import EncoderError
from streamforge.media.scaler import Scaler
from streamforge.media.types import RungPlan

AUDIO_RATE = 48000
AUDIO_LAYOUT = "stereo"
AAC_FRAME_SIZE = 1024


def hls_options(folder: Path, segment_seconds: int) -> dict[str, str]:
    return {
        "hls_time": str(segment_seconds),
        "hls_segment_type": "fmp4",
        "hls_playlist_type": "vod",
        "hls_fmp4_init_filename": "init.mp4",
        "hls_segment_filename": str(folder / "seg_%05d.m4s"),
        "hls_flags": "independent_segments",
    }


class RenditionWriter:
    """Encodes and muxes one rung into ``<hls>/<rung>/playlist.m3u8`` + init + segments."""

    def __init__(
        self,
        plan: RungPlan,
        folder: Path,
        *,
        fps: Fraction,
        gop: int,
        segment_seconds: int,
        with_audio: bool,
    ) -> None:
        self.plan = plan
        self.folder = folder
        self.gop = gop
        folder.mkdir(parents=True, exist_ok=True)
        rung, encoding = plan.rung, plan.encoding
        self.output: av.container.OutputContainer = av.open(
            str(folder / "playlist.m3u8"),
            "w",
            format="hls",
            options=hls_options(folder, segment_seconds),
        )
        try:
            stream = self.output.add_stream(
                encoding.codec, rate=fps, options=dict(encoding.options)
            )
            if not isinstance(stream, av.video.stream.VideoStream):
                raise EncoderError(f"{encoding.codec} is not a video encoder")
            self.video = stream
            self.video.width, self.video.height = rung.width, rung.height
            self.video.pix_fmt = encoding.pix_fmt
            self.video.time_base = 1 / fps
            ctx = self.video.codec_context
            ctx.time_base = 1 / fps
            ctx.framerate = fps
            # FACTS: frame threading plus a couple of encoder threads per rung is fastest.
            ctx.thread_type = "FRAME"
            ctx.thread_count = int(encoding.options.get("threads", "2") or 0)
            self.audio: av.audio.stream.AudioStream | None = None
            if with_audio:
                self.audio = self.output.add_stream("aac", rate=AUDIO_RATE)
                self.audio.layout = AUDIO_LAYOUT
                self.audio.bit_rate = rung.audio_bitrate
                self.audio.time_base = Fraction(1, AUDIO_RATE)
                # frames come in this time base, so the encoder never rebases them: one
                # audio frame is shared by every rung's thread (see fanout.py)
                self.audio.codec_context.time_base = Fraction(1, AUDIO_RATE)
        except (av.error.FFmpegError, ValueError) as exc:
            self.output.close()
            raise EncoderError(f"could not set up the {encoding.codec} encoder: {exc}") from exc
        self._scaled_for: int | None = None
        self._scaled: av.VideoFrame | None = None
        # One scaler per rung, kept for the whole pass (building one costs more than a frame).
        self._scaler = Scaler(rung.width, rung.height, encoding.pix_fmt)

    @property
    def name(self) -> str:
        return self.plan.rung.name

    def encode_video(self, frame: av.VideoFrame, frame_id: int, index: int) -> None:
        """Encode source ``frame`` (id'd so duplicates reuse one scaling) as output ``index``."""
        if self._scaled_for != frame_id or self._scaled is None:
            self._scaled = self._scaler(frame)
            self._scaled_for = frame_id
        out = self._scaled
        out.pts = index
        out.time_base = self.video.codec_context.time_base
        # A decoded I frame keeps its picture type; it must not force a stray keyframe.
        out.pict_type = PictureType.I if index % self.gop == 0 else PictureType.NONE
        self._mux(self.video.encode(out))

    def encode_audio(self, frame: av.AudioFrame | None) -> None:
        if self.audio is not None:
            self._mux(self.audio.encode(frame))

    def _mux(self, packets: list[Any]) -> None:
        if packets:
            self.output.mux(packets)

    def finish(self) -> None:
        """Flush the encoders and write the playlist's end."""
        self._mux(self.video.encode(None))
        self.encode_audio(None)
        self.output.close()

    def abort(self) -> None:
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self.output.close()
