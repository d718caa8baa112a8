"""Rung threads: an error in one rung's thread ends the whole pass cleanly, in-process."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from streamforge.errors import EncoderError
from streamforge.media import sandbox
from streamforge.media.rendition import RenditionWriter
from streamforge.media.transcode import run_transcode
from streamforge.media.types import Limits
from tests.media.helpers import small_plan
from tests.mediagen import make_clip


def rung_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rung-")]


async def test_a_rung_failing_mid_pass_stops_every_rung(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_clip(tmp_path / "src.mp4", width=426, height=240, seconds=3.0)
    plan = small_plan(await sandbox.probe(str(source), Limits()), source, tmp_path / "out")
    assert [r.rung.name for r in plan.rungs] == ["144p", "240p"]
    real = RenditionWriter.encode_video
    encoded: dict[str, int] = {}

    def failing(self: RenditionWriter, frame: av.VideoFrame, frame_id: int, index: int) -> None:
        encoded[self.name] = encoded.get(self.name, 0) + 1
        if self.name == "240p" and index == 20:
            raise EncoderError("the 240p encoder gave up")
        real(self, frame, frame_id, index)

    monkeypatch.setattr(RenditionWriter, "encode_video", failing)
    with pytest.raises(EncoderError, match="the 240p encoder gave up"):
        run_transcode(plan, lambda p: None)
    assert rung_threads() == []
    # the failure reached the decoding thread within a queue's depth, not at the end
    assert encoded["240p"] == 21
    assert encoded["144p"] < 45  # of 90 frames


async def test_every_rung_is_flushed_by_its_own_thread(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "src.mp4", width=426, height=240, seconds=2.0)
    plan = small_plan(await sandbox.probe(str(source), Limits()), source, tmp_path / "out")
    result = run_transcode(plan, lambda p: None)
    assert rung_threads() == []
    assert [r.name for r in result.renditions] == ["144p", "240p"]
    for r in result.renditions:
        assert (tmp_path / "out" / "hls" / r.name / "init.mp4").stat().st_size > 0
