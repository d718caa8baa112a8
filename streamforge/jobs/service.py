"""Job-side entry points of the CLI: importing files (``add``) and running a worker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

from streamforge.config import Settings, redact_url
from streamforge.db.models import VideoStatus
from streamforge.jobs import store
from streamforge.jobs.host import JobHost, shutdown
from streamforge.library.delivery import STOP_GRACE, Dispatcher
from streamforge.library.notify import announce_uploaded
from streamforge.library.videos import get_video, import_file
from streamforge.plugins import Registry
from streamforge.runtime import Runtime

TERMINAL = (VideoStatus.READY, VideoStatus.FAILED)
#: How often ``add --wait`` re-reads the database when no local event arrives: another
#: process (a running ``serve`` or a worker) may be the one doing the work.
WAIT_POLL = 1.0
#: Seconds ``add`` spends at exit delivering the notifications that are due.
DRAIN_TIMEOUT = 10.0


async def queue_job(host: JobHost, rt: Runtime, job_id: str) -> None:
    host.enqueue(job_id)
    await store.mark_enqueued(rt.db, job_id)


async def import_files(
    settings: Settings,
    files: list[Path],
    *,
    title: str | None,
    wait: bool,
    on_id: Callable[[str], None],
    announce: Callable[[str], None],
) -> bool:
    """Import ``files``; with ``wait``, run/await their transcodes. True if none failed."""
    registry = Registry.build(settings)
    rt = await Runtime.create(settings, registry).open()
    host = JobHost(settings, registry)
    reconciler: asyncio.Task[None] | None = None
    notify = Dispatcher(rt)
    notify.start()
    try:
        ids = []
        for path in files:
            imported = await import_file(rt.db, rt.storage, settings, path, title=title)
            ids.append(imported.video_id)
            on_id(imported.video_id)
            await announce_uploaded(rt, imported.video_id)
            if wait or not host.in_process:
                await queue_job(host, rt, imported.job_id)
        if not wait:
            if host.in_process:
                announce("queued; `streamforge serve` will transcode it (or use --wait)")
            return True
        if host.in_process:
            host.start_worker()
            reconciler = asyncio.create_task(host.reconcile_forever(rt))
        return await _wait_for(rt, ids, announce)
    finally:
        # What is due now goes out before we exit; retries are left to serve or a worker.
        # The job threads stop first: a video can look ready in the database a moment
        # before its thread has queued the video.ready notification.
        await notify.stop(within=STOP_GRACE)
        if reconciler is not None:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
        await asyncio.to_thread(host.stop)
        await notify.flush(within=DRAIN_TIMEOUT)
        await shutdown(host, rt)  # (stopping the host again does nothing)


async def _wait_for(rt: Runtime, ids: list[str], announce: Callable[[str], None]) -> bool:
    remaining = set(ids)
    failed = False
    events = rt.events.subscribe()
    try:
        while remaining:
            async with rt.db.session() as s:
                for video_id in sorted(remaining):
                    video = await get_video(s, video_id)
                    if video.status in TERMINAL:
                        remaining.discard(video_id)
                        if video.status == VideoStatus.FAILED:
                            failed = True
                            announce(f"{video_id}: failed: {video.error}")
                        else:
                            announce(f"{video_id}: ready")
            if remaining:
                # wake on a local event, or re-read after WAIT_POLL seconds
                with contextlib.suppress(TimeoutError, StopAsyncIteration):
                    await asyncio.wait_for(anext(events), WAIT_POLL)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return not failed


async def run_worker(
    settings: Settings, *, threads: int | None, announce: Callable[[str], None]
) -> None:
    """Consume the external broker until SIGINT/SIGTERM, reconciling now and then."""
    registry = Registry.build(settings)
    rt = await Runtime.create(settings, registry).open()
    host = JobHost(settings, registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host.start_worker(threads)
    reconciler = asyncio.create_task(host.reconcile_forever(rt))
    notify = Dispatcher(rt)
    notify.start()
    announce(f"worker {host.owner} consuming {redact_url(settings.broker.url)}")
    try:
        await stop.wait()
    finally:
        await notify.stop(within=STOP_GRACE)
        await shutdown(host, rt, reconciler)
