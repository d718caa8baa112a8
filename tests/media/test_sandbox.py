"""The child process boundary: crashes, limits, cancel, threads."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from streamforge.errors import ChildFailed, MediaError
from streamforge.media import sandbox
from streamforge.media.types import Limits, Progress
from tests.media.helpers import small_plan
from tests.mediagen import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("src") / "clip.mp4", seconds=2.0)


async def test_a_crashing_decoder_is_named(monkeypatch: pytest.MonkeyPatch, clip: Path) -> None:
    """The child dies by SIGSEGV, as a truncated MP4 can make FFmpeg do (FACTS)."""
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(sandbox, "CHILD_COMMAND", (sys.executable, "-c", crash))
    with pytest.raises(MediaError, match=r"crashed \(SIGSEGV\) — the file is probably corrupt"):
        await sandbox.probe(str(clip), Limits())


def test_exit_reasons() -> None:
    limits = Limits(memory_bytes=256 * 1024**2, cpu_seconds=60)
    assert "SIGBUS" in sandbox.describe_exit(-signal.SIGBUS, limits)
    assert "60 s CPU time limit" in sandbox.describe_exit(-signal.SIGXCPU, limits)
    assert "limit 256 MB" in sandbox.describe_exit(-signal.SIGKILL, limits)
    assert "status 3" in sandbox.describe_exit(3, limits)


async def test_memory_limit_fails_the_job_not_the_parent(clip: Path) -> None:
    with pytest.raises(MediaError, match=r"ran out of memory \(limit 48 MB\)"):
        await sandbox.probe(str(clip), Limits(memory_bytes=48 * 1024**2))


async def test_wall_time_limit(clip: Path, tmp_path: Path) -> None:
    probe = await sandbox.probe(str(clip), Limits())
    plan = small_plan(probe, clip, tmp_path / "out", limits=Limits(wall_seconds=0.05))
    with pytest.raises(MediaError, match=r"took longer than the 0.05 s limit"):
        await sandbox.transcode(plan)


async def test_cancel_kills_the_child(clip: Path, tmp_path: Path) -> None:
    probe = await sandbox.probe(str(clip), Limits())
    plan = small_plan(probe, clip, tmp_path / "out")
    cancel = asyncio.Event()

    def on_progress(_: Progress) -> None:
        cancel.set()

    with pytest.raises(MediaError, match=r"^cancelled$"):
        await sandbox.transcode(plan, on_progress, cancel=cancel)


async def test_output_byte_limit(clip: Path, tmp_path: Path) -> None:
    probe = await sandbox.probe(str(clip), Limits())
    plan = small_plan(probe, clip, tmp_path / "out", limits=Limits(max_output_bytes=10_000))
    with pytest.raises(MediaError, match="outputs grew past the 10000 byte limit"):
        await sandbox.transcode(plan)


def test_works_from_a_loop_in_another_thread(clip: Path) -> None:
    results: list[object] = []

    def worker() -> None:
        try:
            results.append(asyncio.run(sandbox.probe(str(clip), Limits())))
        except BaseException as exc:  # surfaced by the assert below
            results.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    [result] = results
    assert not isinstance(result, BaseException), result
    assert result.width == 320  # type: ignore[attr-defined]


#: Runs the real child, but it dies by SIGSEGV right after its first progress report.
CRASH_MID_TRANSCODE = """
import os, signal, sys
import streamforge.media.transcode as transcode
tick = transcode.Pass.tick
def crash(self, *args, **kwargs):
    tick(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGSEGV)
transcode.Pass.tick = crash
from streamforge.media.child import main
sys.exit(main())
"""


async def test_a_crash_mid_transcode_is_named(
    monkeypatch: pytest.MonkeyPatch, clip: Path, tmp_path: Path
) -> None:
    probe = await sandbox.probe(str(clip), Limits())
    plan = small_plan(probe, clip, tmp_path / "out")
    monkeypatch.setattr(sandbox, "CHILD_COMMAND", (sys.executable, "-c", CRASH_MID_TRANSCODE))
    seen: list[Progress] = []
    with pytest.raises(ChildFailed, match=r"crashed \(SIGSEGV\) — the file is probably corrupt"):
        await sandbox.transcode(plan, seen.append)
    assert seen, "the child crashed before it started transcoding"
    assert seen[0].stage == "transcode"


def scramble_mdat(clip: Path, out: Path) -> Path:
    """``clip`` with the second half of its media data replaced by noise (headers intact)."""
    data = bytearray(clip.read_bytes())
    at = data.index(b"mdat") - 4
    size = int.from_bytes(data[at : at + 4], "big")
    rng = random.Random(7)
    start = at + 8 + (size - 8) // 2
    data[start : at + size] = bytes(rng.randrange(256) for _ in range(at + size - start))
    out.write_bytes(bytes(data))
    return out


async def test_undecodable_video_is_named(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", width=160, height=96, seconds=1.0, fps=10, audio=False)
    bad = scramble_mdat(clip, tmp_path / "bad.mp4")
    probe = await sandbox.probe(str(bad), Limits())  # the headers are fine
    # Under load, FFmpeg's threaded decoder has been seen to hang on this file instead of
    # failing; the stall watchdog must then end it with a reason, not hold the worker.
    plan = small_plan(probe, bad, tmp_path / "out", limits=Limits(stall_seconds=30))
    with pytest.raises(MediaError) as info:
        await sandbox.transcode(plan)
    message = str(info.value)
    assert message.startswith(
        (
            "the source could not be decoded",
            "the source has no decodable",
            "the media process stopped making progress for 30 s",
        )
    )
    assert "Traceback" not in message, message


async def test_a_silent_child_is_killed_by_the_stall_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a child that never answers nor reports progress (a stuck decoder)
    monkeypatch.setattr(
        sandbox, "CHILD_COMMAND", (sys.executable, "-c", "import time; time.sleep(60)")
    )
    with pytest.raises(MediaError) as info:
        await sandbox.probe(str(tmp_path / "x.mp4"), Limits(stall_seconds=1))
    assert str(info.value) == (
        "the media process stopped making progress for 1 s "
        "(the file is probably corrupt or hostile)"
    )


async def test_a_child_stuck_after_answering_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # seen for real: FFmpeg's frame threads deadlocked while a child was exiting
    answer = '{"type": "error", "message": "boom", "refused": false}'
    code = f"import sys, time; print({answer!r}, flush=True); time.sleep(60)"
    monkeypatch.setattr(sandbox, "CHILD_COMMAND", (sys.executable, "-c", code))
    monkeypatch.setattr(sandbox, "EXIT_GRACE", 0.5)
    with pytest.raises(MediaError, match=r"^boom$"):
        await asyncio.wait_for(sandbox.probe(str(tmp_path / "x.mp4"), Limits()), 10)


async def test_cancel_stops_a_probe_that_hangs(tmp_path: Path) -> None:
    """A probe reading a source that never ends (a FIFO nobody writes) stops on cancel, so a
    stopping worker can hand its job back even while probing."""
    fifo = tmp_path / "never.mp4"
    os.mkfifo(fifo)
    cancel = asyncio.Event()
    probing = asyncio.create_task(sandbox.probe(str(fifo), Limits(), cancel))
    cancel.set()  # without cancel, this probe would wait for its source forever
    with pytest.raises(MediaError, match=r"^cancelled$"):
        await asyncio.wait_for(probing, 10)


def test_a_child_whose_parent_died_before_it_started_does_no_work(clip: Path) -> None:
    # The child learns its parent's pid from the request. If that parent is gone by the
    # time the child sets its parent-death signal, getppid() is init's, not the parent's:
    # comparing with the pid the parent sent is what catches it.
    def probe_as_child_of(parent: int) -> subprocess.CompletedProcess[str]:
        request = {"op": "probe", "path": str(clip), "limits": {}, "parent": parent}
        return subprocess.run(
            [*sandbox.CHILD_COMMAND],
            input=json.dumps(request) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    child = probe_as_child_of(gone.pid)
    assert child.returncode == 1
    assert child.stdout == ""  # no answer: it stopped before probing anything

    child = probe_as_child_of(os.getpid())  # its real parent: it works
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.splitlines()[-1])["type"] == "result"
