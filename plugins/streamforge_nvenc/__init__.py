"""NVIDIA NVENC H.264 encoder (h264_nvenc), registered through ``register_encoders``.

Available only where the encoder really opens: an NVIDIA GPU with a driver, and an FFmpeg
build with NVENC (PyAV's wheels have it). Keyframes are set through NVENC's GOP options —
hardware encoders ignore forced keyframes — so every rung still has an IDR frame exactly
every ``gop`` frames.
"""

from __future__ import annotations

from typing import Literal

from streamforge.encoders import Encoder, RateControlConfig, rate_options
from streamforge.hookspecs import hookimpl
from streamforge.media.types import Rung, VideoEncoding


class NvencConfig(RateControlConfig):
    """``[encoders.nvenc]``."""

    #: p1 (fastest) … p7 (best quality).
    preset: Literal["p1", "p2", "p3", "p4", "p5", "p6", "p7"] = "p4"
    #: GPU index when the machine has several.
    gpu: int = 0


class NvencEncoder(Encoder):
    name = "nvenc"
    codec = "h264_nvenc"
    hardware = True
    family = "nvidia"
    priority = 10
    Config = NvencConfig

    def probe_options(self) -> dict[str, str]:
        cfg = self.config
        assert isinstance(cfg, NvencConfig)
        return {"gpu": str(cfg.gpu)}

    def encoding(self, rung: Rung, *, frame_rate: float, gop: int) -> VideoEncoding:
        cfg = self.config
        assert isinstance(cfg, NvencConfig)
        return VideoEncoding(
            codec=self.codec,
            pix_fmt="yuv420p",
            options={
                "preset": cfg.preset,
                "tune": "hq",
                "rc": "vbr",
                **rate_options(rung, cfg),
                "g": str(gop),
                "strict_gop": "1",
                "no-scenecut": "1",
                "forced-idr": "1",
                "profile": "high",
                "gpu": str(cfg.gpu),
            },
        )


@hookimpl
def register_encoders() -> list[type[Encoder]]:
    return [NvencEncoder]
