"""The encoder plugin API.

An encoder plugin returns ``Encoder`` subclasses from ``register_encoders``. The core picks
one by ``[transcode] encoder`` ("auto" prefers a working hardware encoder), asks it for each
rung's :class:`~streamforge.media.types.VideoEncoding`, and hands that plain data to the
media child process. Encoders never see the source file.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any, ClassVar

from streamforge.config import PluginConfig
from streamforge.media.types import Rung, VideoEncoding

log = logging.getLogger(__name__)


class RateControlConfig(PluginConfig):
    """Config shared by encoders that take a target bitrate with VBV limits."""

    #: ``maxrate`` = rung bitrate x this; ``bufsize`` = rung bitrate x ``bufsize_factor``.
    maxrate_factor: float = 1.07
    bufsize_factor: float = 1.5


def rate_options(rung: Rung, config: RateControlConfig) -> dict[str, str]:
    """FFmpeg ``b``/``maxrate``/``bufsize`` options for one rung."""
    bitrate = rung.video_bitrate
    return {
        "b": str(bitrate),
        "maxrate": str(int(bitrate * config.maxrate_factor)),
        "bufsize": str(int(bitrate * config.bufsize_factor)),
    }


class Encoder(ABC):
    """Base class of video encoders.

    Subclasses set ``name`` (the value of ``[transcode] encoder``), ``codec`` (the FFmpeg
    encoder name), ``hardware`` and optionally a ``Config`` model read from the TOML table
    ``[encoders.<name>]``.
    """

    name: ClassVar[str]
    codec: ClassVar[str]
    hardware: ClassVar[bool] = False
    #: Queue family for scale-out routing ("cpu", "nvidia", "vaapi", ...).
    family: ClassVar[str] = "cpu"
    #: Higher wins when ``encoder = "auto"`` and several encoders work.
    priority: ClassVar[int] = 0
    Config: ClassVar[type[PluginConfig]] = PluginConfig

    def __init__(self, config: PluginConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def available(self) -> bool:
        """Say whether this encoder really works on this machine.

        The default opens the FFmpeg encoder on a tiny picture. Hardware encoders must
        keep it that way (or stricter): being compiled in proves nothing about a GPU.
        """
        return probe_encoder(self.codec, self.probe_options())

    def probe_options(self) -> dict[str, str]:
        """Options used when :meth:`available` opens the encoder."""
        return {}

    @abstractmethod
    def encoding(self, rung: Rung, *, frame_rate: float, gop: int) -> VideoEncoding:
        """Return the encoder settings for one rung.

        :param rung: the rendition to encode (size and target bitrate).
        :param frame_rate: output frames per second.
        :param gop: frames per GOP; every rung gets the same value, and the encoder must
            put an IDR frame exactly every ``gop`` frames (closed GOP, no scene-cut
            keyframes) so renditions stay switchable at every segment.
        """


def probe_encoder(codec: str, options: dict[str, str] | None = None) -> bool:
    """Open ``codec`` on a 256x144 picture and encode one frame; False on any failure."""
    import av  # deferred: importing PyAV costs ~100 ms

    try:
        ctx: Any = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height = 256, 144
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = 25
        ctx.options = dict(options or {})
        ctx.open()
        frame = av.VideoFrame(256, 144, "yuv420p")
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
    except Exception as exc:  # any failure means "not usable here"
        log.debug("encoder %s unavailable: %s", codec, exc)
        return False
    return True
