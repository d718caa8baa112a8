"""A job message the broker delivers more than once never notifies twice."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from streamforge.db.models import OutboxState, VideoStatus
from streamforge.events import stable_event_id
from streamforge.jobs.host import TRANSCODE_QUEUE, JobHost
from streamforge.library import videos
from streamforge.library.delivery import Dispatcher
from streamforge.runtime import Runtime
from tests.mediagen import make_clip
from tests.notifiers.conftest import open_runtime, outbox_rows, webhook_env
from tests.notifiers.receiver import Receiver

FAST_TRANSCODE = {
    "STREAMFORGE_TRANSCODE__LADDER": (
        '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'
    ),
    "STREAMFORGE_ENCODERS__X264__PRESET": "ultrafast",
    "STREAMFORGE_JOBS__MAX_ATTEMPTS": "1",
}


async def deliver_messages(rt: Runtime, job_id: str, copies: int) -> None:
    """Put ``copies`` messages for ``job_id`` on an in-process broker and let two worker
    threads consume them all (the copies run at the same time)."""
    host = JobHost(rt.settings, rt.registry)
    for _ in range(copies):
        host.enqueue(job_id)
    host.start_worker(threads=2)
    try:
        await asyncio.to_thread(host.broker.join, TRANSCODE_QUEUE, timeout=120_000)
    finally:
        await asyncio.to_thread(host.stop)


@pytest.mark.parametrize("outcome", ["video.ready", "video.failed"])
async def test_a_redelivered_job_message_sends_one_notification(
    tmp_path: Path, receiver: Receiver, outcome: str
) -> None:
    env = {**webhook_env(receiver.url, allow_private="true"), **FAST_TRANSCODE}
    async with open_runtime(tmp_path, **env) as rt:
        if outcome == "video.ready":
            source = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=1.0)
        else:
            source = tmp_path / "junk.mp4"
            source.write_bytes(os.urandom(4096))
        imported = await videos.import_file(rt.db, rt.storage, rt.settings, source)
        # the broker hands the same message to two workers at once...
        await deliver_messages(rt, imported.job_id, copies=2)
        assert await Dispatcher(rt).run_once() == 1
        # ...and once more after all is done (say, a worker died before acknowledging it)
        await deliver_messages(rt, imported.job_id, copies=1)
        assert await Dispatcher(rt).run_once() == 0

        async with rt.db.read() as s:
            status = (await videos.get_video(s, imported.video_id)).status
        assert status == (VideoStatus.READY if outcome == "video.ready" else VideoStatus.FAILED)
        [row] = await outbox_rows(rt)
        assert (row.event_type, row.state) == (outcome, OutboxState.DELIVERED)
        parts = ("1",) if outcome == "video.failed" else ()  # one failure per attempt
        assert row.event_id == stable_event_id(outcome, imported.job_id, *parts)
    [request] = receiver.requests
    assert request.headers["X-StreamForge-Event"] == outcome
    assert json.loads(request.body)["video_id"] == imported.video_id
