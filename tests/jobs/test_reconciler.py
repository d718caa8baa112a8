"""The reconciler with an external broker (the real Redis): a message no worker takes."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from streamforge.db.models import Job
from streamforge.events import LocalEventBus
from streamforge.jobs import store
from streamforge.jobs.host import JobHost
from streamforge.library import videos
from streamforge.runtime import Runtime
from tests.conftest import make_settings, worker_redis_url
from tests.mediagen import make_clip


async def test_a_job_no_worker_takes_is_sent_again_and_its_video_warned(
    tmp_path: Path, worker_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        tmp_path,
        STREAMFORGE_BROKER__URL=worker_redis_url(worker_id),
        STREAMFORGE_BROKER__NAMESPACE=f"unclaimed-{worker_id}",
        STREAMFORGE_TRANSCODE__ENCODER="nvenc",  # sent to transcode.nvidia; no worker runs
        STREAMFORGE_JOBS__REQUEUE_AFTER="60",
    )
    rt = await Runtime.create(settings).open()
    rt.events = LocalEventBus()  # (this process's own events suffice here)
    seen: list[dict[str, Any]] = []
    rt.events.publish = seen.append  # type: ignore[method-assign]
    host = JobHost(settings, rt.registry)
    client = host.broker.client  # type: ignore[attr-defined]
    queue = f"unclaimed-{worker_id}:transcode.nvidia"
    try:
        client.delete(queue)
        clip = make_clip(tmp_path / "clip.mp4", width=160, height=120, seconds=0.5)
        imported = await videos.import_file(rt.db, rt.storage, settings, clip)
        assert await host.reconcile(rt) == 1  # its first message
        assert client.llen(queue) == 1
        assert await host.reconcile(rt) == 0  # trusted to be in the queue for a while
        assert not seen

        # 70 s later, nobody has taken it
        async with rt.db.session() as s:
            sent = (await s.execute(select(Job.enqueued_at))).scalar_one()
            assert sent is not None
            later = sent - timedelta(seconds=70)
            await s.execute(update(Job).where(Job.id == imported.job_id).values(enqueued_at=later))
        with caplog.at_level(logging.WARNING, logger="streamforge.jobs.host"):
            assert await host.reconcile(rt) == 1
        assert client.llen(queue) == 2
        [event] = seen
        assert (event["type"], event["video_id"]) == ("video.warning", imported.video_id)
        assert event["message"].startswith("no worker has taken this video's transcode for 7")
        assert "streamforge worker --queues transcode.nvidia" in event["message"]
        assert "on queue 'transcode.nvidia' with no worker taking them" in caplog.text
        [due] = await store.due_jobs(rt.db, skip=set(), stale_after=None)
        assert due.unclaimed_for is None  # (in-process view: nothing to say)
    finally:
        client.delete(queue, f"{queue}.DQ")
        host.stop()
        await rt.close()
