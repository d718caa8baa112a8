"""Built-in software H.264 encoder (libx264), registered through ``register_encoders``."""

from __future__ import annotations

from typing import Literal

from streamforge.config import PluginConfig
from streamforge.encoders import Encoder
from streamforge.hookspecs import hookimpl
from streamforge.media.types import Rung, VideoEncoding

Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"]


class X264Config(PluginConfig):
    """``[encoders.x264]``: software encoder settings."""

    preset: Preset = "veryfast"
    #: ``maxrate`` = bitrate × this; ``bufsize`` = bitrate × ``bufsize_factor``.
    maxrate_factor: float = 1.07
    bufsize_factor: float = 1.5
    #: Encoder threads per rung; 0 lets x264 decide.
    threads: int = 2


class X264Encoder(Encoder):
    """libx264 with a fixed, closed GOP and no scene-cut keyframes."""

    name = "x264"
    codec = "libx264"
    hardware = False
    family = "cpu"
    priority = 0
    Config = X264Config

    def encoding(self, rung: Rung, *, frame_rate: float, gop: int) -> VideoEncoding:
        cfg = self.config
        assert isinstance(cfg, X264Config)
        bitrate = rung.video_bitrate
        return VideoEncoding(
            codec=self.codec,
            pix_fmt="yuv420p",
            options={
                "preset": cfg.preset,
                "b": str(bitrate),
                "maxrate": str(int(bitrate * cfg.maxrate_factor)),
                "bufsize": str(int(bitrate * cfg.bufsize_factor)),
                "g": str(gop),
                "keyint_min": str(gop),
                "sc_threshold": "0",
                # closed GOPs and no open-GOP/scenecut keyframes: IDR exactly every `gop`
                "x264-params": f"open-gop=0:scenecut=0:keyint={gop}:min-keyint={gop}",
                "profile": "high",
                "threads": str(cfg.threads),
            },
        )


@hookimpl
def register_encoders() -> list[type[Encoder]]:
    return [X264Encoder]
