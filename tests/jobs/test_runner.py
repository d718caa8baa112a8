"""The job runner against the real pipeline: encoder choice, hardware fallback, cancel."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamforge_nvenc import NvencEncoder

from streamforge.config import Settings
from streamforge.db.models import Job, JobState, Video, VideoStatus
from streamforge.events import Event, make_event
from streamforge.jobs import store
from streamforge.jobs.runner import run_transcode
from streamforge.library import encoding, videos
from streamforge.runtime import Runtime
from tests.conftest import make_settings
from tests.mediagen import make_clip

ONE_RUNG = '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        STREAMFORGE_TRANSCODE__LADDER=ONE_RUNG,
        STREAMFORGE_ENCODERS__X264__PRESET="ultrafast",
        STREAMFORGE_JOBS__RETRY_BACKOFF="0",
    )


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.create(settings).open()
    yield runtime
    await runtime.close()


@pytest.fixture(autouse=True)
def fresh_encoder_checks() -> None:
    encoding._checked.clear()


async def collect(rt: Runtime, into: list[Event]) -> None:
    async for event in rt.events.subscribe():
        into.append(event)


async def run(rt: Runtime, clip: Path) -> tuple[str, str, list[tuple[str, float]]]:
    imported = await videos.import_file(rt.db, rt.storage, rt.settings, clip)
    retries: list[tuple[str, float]] = []
    await run_transcode(
        rt,
        imported.job_id,
        store.worker_identity(),
        lambda job, delay: retries.append((job, delay)),
    )
    return imported.video_id, imported.job_id, retries


def media_children() -> list[int]:
    """Live media child processes started by this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if ppid == os.getpid() and b"streamforge.media.child" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def test_auto_picks_software_when_no_gpu_works(rt: Runtime) -> None:
    chosen = encoding.select_encoder(rt.registry)
    assert chosen.name == "x264"
    listed = encoding.available_encoders(rt.registry)
    assert {e.name: works for e, works in listed}["x264"] is True
    hardware_first = [e.hardware for e, _ in listed]
    assert hardware_first == sorted(hardware_first, reverse=True)


async def test_hardware_failure_falls_back_to_software(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mocked, because no GPU exists here: NVENC *claims* to work, so "auto" picks it; the
    # media child then really fails to open h264_nvenc and the runner must fall back.
    monkeypatch.setattr(NvencEncoder, "available", lambda self: True)
    assert encoding.select_encoder(rt.registry).name == "nvenc"
    events: list[Event] = []
    listener = asyncio.create_task(collect(rt, events))
    await asyncio.sleep(0)
    clip = make_clip(tmp_path / "c.mp4", width=256, height=144, seconds=2.0)
    video_id, _, retries = await run(rt, clip)
    listener.cancel()
    async with rt.db.session() as s:
        video = await s.get(Video, video_id)
        assert video is not None
        assert video.status == VideoStatus.READY, video.error
    assert retries == []
    warnings = [e for e in events if e["type"] == "video.warning"]
    assert len(warnings) == 1
    assert warnings[0]["message"].startswith("hardware encoder nvenc failed (")
    assert warnings[0]["message"].endswith("transcoding with x264 instead")


async def test_explicit_encoder_that_does_not_work_fails_clearly(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_TRANSCODE__ENCODER="vaapi")
    rt = await Runtime.create(settings).open()
    try:
        clip = make_clip(tmp_path / "c.mp4", width=160, height=120, seconds=1.0)
        video_id, job_id, retries = await run(rt, clip)
        async with rt.db.session() as s:
            video = await s.get(Video, video_id)
            assert video is not None
            assert video.error == (
                "encoder 'vaapi' (h264_vaapi) does not work on this machine; "
                'set [transcode] encoder = "auto" or run `streamforge doctor`'
            )
        assert [job for job, _ in retries] == [job_id]  # retried, like any failure
    finally:
        await rt.close()


@pytest.fixture
async def slow_rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime whose transcodes take long enough to be caught mid-way on an idle machine."""
    settings = make_settings(
        tmp_path,
        STREAMFORGE_TRANSCODE__LADDER=ONE_RUNG,
        STREAMFORGE_ENCODERS__X264__PRESET="slower",
        STREAMFORGE_ENCODERS__X264__THREADS="1",
    )
    runtime = await Runtime.create(settings).open()
    yield runtime
    await runtime.close()


async def test_deleting_a_video_cancels_its_transcode(slow_rt: Runtime, tmp_path: Path) -> None:
    rt = slow_rt
    clip = make_clip(tmp_path / "long.mp4", width=426, height=240, seconds=20.0)
    imported = await videos.import_file(rt.db, rt.storage, rt.settings, clip)
    progressed = asyncio.Event()

    async def watch() -> None:
        async for event in rt.events.subscribe():
            if event["type"] == "video.progress" and event["percent"] > 0:
                progressed.set()
                return

    watcher = asyncio.create_task(watch())
    runner = asyncio.create_task(
        run_transcode(rt, imported.job_id, store.worker_identity(), lambda *a: None)
    )
    await asyncio.wait_for(progressed.wait(), 60)
    assert media_children(), "the transcode should be running in its child now"
    await videos.delete_video(rt.db, rt.storage, imported.video_id)
    rt.events.publish(make_event("video.deleted", imported.video_id))
    await asyncio.wait_for(runner, 15)
    watcher.cancel()
    assert media_children() == []
    assert await rt.storage.list(f"videos/{imported.video_id}/") == []
    assert list((rt.settings.data_dir / "scratch").iterdir()) == []
    async with rt.db.session() as s:
        jobs = (await s.execute(select(Job))).scalars().all()
        assert jobs == []  # gone with the video


async def test_failed_attempt_is_retried_then_final(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, STREAMFORGE_JOBS__MAX_ATTEMPTS="2", STREAMFORGE_JOBS__RETRY_BACKOFF="0"
    )
    rt = await Runtime.create(settings).open()
    try:
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(os.urandom(4096))
        imported = await videos.import_file(rt.db, rt.storage, settings, junk)
        retries: list[Any] = []
        owner = store.worker_identity()
        await run_transcode(rt, imported.job_id, owner, lambda j, d: retries.append(j))
        assert retries == [imported.job_id]
        await run_transcode(rt, imported.job_id, owner, lambda j, d: retries.append(j))
        assert retries == [imported.job_id]  # no third message: that was the last attempt
        async with rt.db.session() as s:
            video = await s.get(Video, imported.video_id)
            assert video is not None
            assert video.status == VideoStatus.FAILED
            assert video.error is not None
            assert video.error.startswith("not a supported video file: ")
            job = await s.get(Job, imported.job_id)
            assert job is not None
            assert job.state == JobState.FAILED
            assert job.attempts == 2
    finally:
        await rt.close()


@pytest.mark.parametrize("name", ["nvenc", "vaapi"])
async def test_gpu_encoder_really_encodes(rt: Runtime, tmp_path: Path, name: str) -> None:
    encoder = rt.registry.encoder(name)
    if not encoder.available():
        pytest.skip(f"no GPU: {encoder.codec} cannot open on this machine")
    settings = make_settings(
        tmp_path, STREAMFORGE_TRANSCODE__ENCODER=name, STREAMFORGE_TRANSCODE__LADDER=ONE_RUNG
    )
    gpu_rt = await Runtime.create(settings).open()
    try:
        clip = make_clip(tmp_path / "g.mp4", width=256, height=144, seconds=2.0)
        video_id, _, _ = await run(gpu_rt, clip)
        async with gpu_rt.db.session() as s:
            video = await s.get(Video, video_id)
            assert video is not None
            assert video.status == VideoStatus.READY, video.error
    finally:
        await gpu_rt.close()
