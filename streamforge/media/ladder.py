"""Choose the renditions to produce for a source: no upscaling, even sizes, capped rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from streamforge.media.types import ProbeResult, Rung


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def short_side(rung: Rung) -> int:
    """A rung's label size: the ``height`` field of a configured rung is its short side."""
    return rung.height if not rung.width else min(rung.width, rung.height)


def _even_down(value: int) -> int:
    return max(2, value - value % 2)


def size_for(probe: ProbeResult, short: int) -> tuple[int, int]:
    """(width, height), both even, with ``short`` as the short side and the display aspect.

    Neither side exceeds the source's: rounding to even never upscales (a 1281×720
    source gets 1280×720, not 1282×720).
    """
    w, h = probe.width, probe.height
    src_long, src_short = max(w, h), min(w, h)
    short_even = min(_even(short), _even_down(src_short))
    long_even = min(_even(short * src_long / src_short), _even_down(src_long))
    return (long_even, short_even) if w >= h else (short_even, long_even)


def plan_ladder(
    probe: ProbeResult, rungs: Sequence[Rung], *, max_frame_rate: float = 60
) -> tuple[list[Rung], float]:
    """The rungs to produce for ``probe`` and the output frame rate.

    A rung is named and sized by its short side, so "720p" is 1280×720 for a landscape
    source and 720×1280 for a portrait one. Rungs above the source are dropped; a source
    below every rung gets one rung at its own size with the lowest rung's bitrates.
    """
    if not rungs:
        raise ValueError("the ladder has no rungs")
    source_short = min(probe.width, probe.height)
    ordered = sorted(rungs, key=short_side)
    kept = [r for r in ordered if short_side(r) <= source_short]
    planned: list[Rung] = []
    if not kept:
        lowest = ordered[0]
        short = max(2, source_short - source_short % 2)  # round down: never upscale
        w, h = size_for(probe, short)
        planned.append(replace(lowest, name=f"{short}p", width=w, height=h))
    else:
        for rung in kept:
            w, h = size_for(probe, short_side(rung))
            planned.append(replace(rung, width=w, height=h))
    frame_rate = probe.frame_rate if probe.frame_rate > 0 else 30.0
    return planned, min(frame_rate, float(max_frame_rate))
