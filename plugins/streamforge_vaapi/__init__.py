"""VAAPI H.264 encoder (h264_vaapi: Intel and AMD GPUs), registered through
``register_encoders``.

Available only where the encoder really opens on a render node with an FFmpeg build that
has VAAPI. PyAV's wheels carry no VAAPI encoder, so with them this plugin reports itself
unavailable and ``encoder = "auto"`` moves on; a job that asks for it on a machine where it
then fails falls back to software with a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from streamforge.encoders import Encoder, RateControlConfig, probe_encoder, rate_options
from streamforge.hookspecs import hookimpl
from streamforge.media.types import Rung, VideoEncoding


class VaapiConfig(RateControlConfig):
    """``[encoders.vaapi]``."""

    device: Path = Path("/dev/dri/renderD128")


class VaapiEncoder(Encoder):
    name = "vaapi"
    codec = "h264_vaapi"
    hardware = True
    family = "vaapi"
    priority = 5
    Config = VaapiConfig

    def available(self) -> bool:
        cfg = self.config
        assert isinstance(cfg, VaapiConfig)
        if not os.access(cfg.device, os.R_OK | os.W_OK):
            return False
        return probe_encoder(self.codec, {"vaapi_device": str(cfg.device)})

    def encoding(self, rung: Rung, *, frame_rate: float, gop: int) -> VideoEncoding:
        cfg = self.config
        assert isinstance(cfg, VaapiConfig)
        return VideoEncoding(
            codec=self.codec,
            pix_fmt="nv12",
            options={
                "vaapi_device": str(cfg.device),
                "rc_mode": "VBR",
                **rate_options(rung, cfg),
                "g": str(gop),
                "idr_interval": "1",
                "bf": "0",
                "profile": "high",
            },
        )


@hookimpl
def register_encoders() -> list[type[Encoder]]:
    return [VaapiEncoder]
