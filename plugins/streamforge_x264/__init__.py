"""Built-in software H.264 encoder (libx264), registered through ``register_encoders``."""

from __future__ import annotations

from typing import Literal

from streamforge.encoders import Encoder, RateControlConfig, rate_options
from streamforge.hookspecs import hookimpl
from streamforge.media.types import Rung, VideoEncoding

Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"]


class X264Config(RateControlConfig):
    """``[encoders.x264]``: software encoder settings."""

    preset: Preset = "veryfast"
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
        return VideoEncoding(
            codec=self.codec,
            pix_fmt="yuv420p",
            options={
                "preset": cfg.preset,
                **rate_options(rung, cfg),
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
