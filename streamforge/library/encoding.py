"""Choosing the encoder for a job: ``[transcode] encoder`` or, for "auto", the best one that
really works here (hardware first)."""

from __future__ import annotations

import logging
import threading

from streamforge.encoders import Encoder
from streamforge.errors import EncoderError
from streamforge.plugins import Registry

log = logging.getLogger(__name__)


_checked: dict[tuple[type[Encoder], str], bool] = {}
_lock = threading.Lock()


def encoder_works(encoder: Encoder) -> bool:
    """Whether the encoder opens here (cached per process, per class and config)."""
    key = (type(encoder), encoder.config.model_dump_json())
    with _lock:
        if key not in _checked:
            _checked[key] = encoder.available()
            log.debug("encoder %s works: %s", encoder.name, _checked[key])
        return _checked[key]


def available_encoders(registry: Registry) -> list[tuple[Encoder, bool]]:
    """Every registered encoder with whether it works, best first."""
    encoders = [registry.encoder(name) for name in registry.encoders]
    encoders.sort(key=lambda e: (e.hardware, e.priority), reverse=True)
    return [(e, encoder_works(e)) for e in encoders]


def software_encoder(registry: Registry) -> Encoder:
    """The best working software encoder: the fallback when a hardware encoder fails."""
    for encoder, works in available_encoders(registry):
        if works and not encoder.hardware:
            return encoder
    raise EncoderError("no working software encoder is loaded; run `streamforge doctor`")


def select_encoder(registry: Registry) -> Encoder:
    wanted = registry.settings.transcode.encoder
    if wanted != "auto":
        encoder: Encoder = registry.encoder(wanted)
        if not encoder_works(encoder):
            raise EncoderError(
                f"encoder {wanted!r} ({encoder.codec}) does not work on this machine; "
                'set [transcode] encoder = "auto" or run `streamforge doctor`'
            )
        return encoder
    for encoder, works in available_encoders(registry):
        if works:
            return encoder
    raise EncoderError("no working video encoder is loaded; run `streamforge doctor`")
