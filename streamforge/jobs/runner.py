"""One attempt at one transcode job: claim, keep the lease, transcode, publish or fail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from streamforge import logs
from streamforge.config import Settings
from streamforge.db.models import Video
from streamforge.errors import ChildFailed, EncoderError, MediaError, StorageError
from streamforge.events import make_event, stable_event_id
from streamforge.jobs import store
from streamforge.library import transcoding
from streamforge.library.notify import announce, announce_queued
from streamforge.library.serialize import video_to_dict
from streamforge.library.videos import get_video, video_prefix
from streamforge.media.types import Progress
from streamforge.metrics import observe_transcode
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)

#: Seconds between progress writes to the database (events go out more often).
PROGRESS_DB_INTERVAL = 1.0
#: Seconds an attempt may spend beyond the media child's own wall limit: fetching the
#: source from storage and storing the outputs.
TRANSFER_ALLOWANCE = 3600.0

Enqueue = Callable[[str, float], None]


def attempt_time_limit(settings: Settings) -> float:
    """Seconds one attempt may take in all: the media child's wall limit
    (``[transcode] time_limit``) plus :data:`TRANSFER_ALLOWANCE`."""
    return settings.transcode.time_limit + TRANSFER_ALLOWANCE


async def run_transcode(
    rt: Runtime,
    job_id: str,
    owner: str,
    enqueue: Enqueue,
    handback: asyncio.Event | None = None,
) -> None:
    """Run one attempt of ``job_id`` if it can be claimed; a no-op otherwise.

    ``enqueue(job_id, delay_seconds)`` sends the retry message when the attempt fails, and
    the message of a handed-back job. Setting ``handback`` (a stopping worker) stops the
    transcode and gives the job back to the queue without counting the attempt — unless
    it is already past transcoding, uploading and publishing, which then finish.
    """
    lease = rt.settings.jobs.lease_seconds
    claim = await store.claim(rt.db, job_id, owner, lease)
    if claim is None:
        log.debug("job %s not claimable (done, running elsewhere, or not due)", job_id)
        return
    logs.bind(job_id=job_id, video_id=claim.video_id)  # on every line of this attempt
    log.info(
        "job %s: attempt %d/%d for video %s",
        job_id,
        claim.attempt,
        claim.max_attempts,
        claim.video_id,
    )
    rt.events.publish(
        make_event("video.processing", claim.video_id, attempt=claim.attempt, job_id=job_id)
    )
    cancel = asyncio.Event()
    keeper = asyncio.create_task(_keep_lease(rt, claim, cancel))
    watcher = asyncio.create_task(_watch_deletion(rt, claim.video_id, cancel))
    stopper = asyncio.create_task(_relay(handback, cancel)) if handback is not None else None
    scratch_root = rt.settings.data_dir / "scratch"
    for stale in scratch_root.glob(f"{job_id}-*"):  # left by a runner that was killed
        transcoding.clean_scratch(stale)
    scratch = scratch_root / f"{job_id}-{claim.attempt}"
    scratch.mkdir(parents=True)
    limit = attempt_time_limit(rt.settings)
    try:
        async with asyncio.timeout(limit):
            error = await _attempt(rt, claim, scratch, cancel)
    except TimeoutError:  # the media child is stopped by the cancellation
        error = f"the attempt took longer than {limit:g} s (fetch, transcode and store)"
    finally:
        for task in (keeper, watcher, stopper):
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        transcoding.clean_scratch(scratch)
    if handback is not None and handback.is_set() and await store.hand_back(rt.db, claim):
        log.info("job %s: handed back (this worker is stopping); attempt not counted", job_id)
        enqueue(job_id, 0.0)
        await announce_queued(rt, claim.video_id, reason="handed_back")
        return
    if error is not None:
        await _record_failure(rt, claim, error, enqueue)


async def _attempt(
    rt: Runtime, claim: store.Claim, scratch: Path, cancel: asyncio.Event
) -> str | None:
    """Returns None on success (or when fenced out), else the reason for people."""
    last_write = 0.0

    async def on_progress(p: Progress) -> None:
        nonlocal last_write
        rt.events.publish(
            make_event(
                "video.progress",
                claim.video_id,
                percent=round(p.percent, 1),
                stage=p.stage,
                rung=p.rung,
            )
        )
        if time.monotonic() - last_write >= PROGRESS_DB_INTERVAL:
            last_write = time.monotonic()
            await store.set_progress(rt.db, claim, p.percent)

    try:
        started = time.monotonic()
        probe, result = await transcoding.transcode_source(rt, claim, scratch, on_progress, cancel)
        if cancel.is_set():
            return None
        observe_transcode(result, time.monotonic() - started)
        await transcoding.upload_outputs(rt, claim.video_id, scratch / "out", result.files)
        if not await transcoding.publish(rt, claim, probe, result):
            await _after_lost_publish(rt, claim)
            return None
    except (MediaError, EncoderError, StorageError) as exc:
        if cancel.is_set():
            log.info("job %s cancelled", claim.job_id)
            return None
        if isinstance(exc, ChildFailed) and exc.stderr:
            log.warning("job %s: media process output:\n%s", claim.job_id, exc.stderr)
        return str(exc)
    except Exception as exc:  # a bug, not the media: keep the trace in the log
        log.exception("job %s failed unexpectedly", claim.job_id)
        return f"internal error: {type(exc).__name__}: {exc}"
    async with rt.db.session() as s:
        video = video_to_dict(await get_video(s, claim.video_id), rt.settings.public_url)
    log.info("job %s: video %s ready", claim.job_id, claim.video_id)
    # a job succeeds once: the same id however often this line were reached for it
    ready_id = stable_event_id("video.ready", claim.job_id)
    event = make_event("video.ready", claim.video_id, event_id=ready_id, video=video)
    await announce(rt, event, "video_ready", video=video)
    return None


async def _after_lost_publish(rt: Runtime, claim: store.Claim) -> None:
    async with rt.db.session() as s:
        exists = await s.get(Video, claim.video_id) is not None
    if exists:
        log.warning("job %s: lease lost before publishing; the new owner publishes", claim.job_id)
        return
    # deleted while we were uploading: the API already removed the prefix, so whatever
    # we wrote since then would be orphaned
    log.info("job %s: video %s was deleted; removing its outputs", claim.job_id, claim.video_id)
    await rt.storage.delete_prefix(video_prefix(claim.video_id))


async def _relay(handback: asyncio.Event, cancel: asyncio.Event) -> None:
    await handback.wait()
    cancel.set()


async def _watch_deletion(rt: Runtime, video_id: str, cancel: asyncio.Event) -> None:
    """Cancel at once when this video is deleted (the lease renewal would notice later)."""
    async for event in rt.events.subscribe():
        if event["type"] == "video.deleted" and event["video_id"] == video_id:
            log.info("video %s deleted: cancelling its transcode", video_id)
            cancel.set()
            return


async def _keep_lease(rt: Runtime, claim: store.Claim, cancel: asyncio.Event) -> None:
    """Renew the lease every third of its length; on loss, cancel the attempt."""
    interval = rt.settings.jobs.lease_seconds / 3
    while True:
        await asyncio.sleep(interval)
        try:
            held = await store.renew(rt.db, claim, rt.settings.jobs.lease_seconds)
        except Exception:  # a database hiccup: try again next round
            log.warning("job %s: lease renewal failed", claim.job_id, exc_info=True)
            continue
        if not held:
            log.warning("job %s: lease lost (video deleted or job taken over)", claim.job_id)
            cancel.set()
            return


async def _record_failure(rt: Runtime, claim: store.Claim, error: str, enqueue: Enqueue) -> None:
    failure = await store.fail(rt.db, claim, error, backoff=rt.settings.jobs.retry_backoff)
    if failure is None:
        return
    if failure.retry_at is not None:
        delay = max(0.0, (failure.retry_at - store.now()).total_seconds())
        enqueue(claim.job_id, delay + 0.1)  # never before run_after
        log.warning(
            "job %s attempt %d failed, retrying in %.0f s: %s",
            claim.job_id,
            claim.attempt,
            delay,
            error,
        )
    else:
        log.error(
            "job %s failed for good after %d attempts: %s", claim.job_id, claim.attempt, error
        )
    event_id = stable_event_id("video.failed", claim.job_id, str(claim.attempt))
    await announce_failure(
        rt, claim.video_id, error, attempt=claim.attempt, final=failure.final, event_id=event_id
    )
    if not failure.final:
        await announce_queued(rt, claim.video_id, reason="retry")


async def announce_failure(
    rt: Runtime,
    video_id: str,
    error: str,
    *,
    attempt: int,
    final: bool,
    event_id: str | None = None,
) -> None:
    async with rt.db.session() as s:
        try:
            video = video_to_dict(await get_video(s, video_id), rt.settings.public_url)
        except Exception:
            return  # deleted meanwhile
    event = make_event(
        "video.failed",
        video_id,
        event_id=event_id,
        error=error,
        attempt=attempt,
        final=final,
        video=video,
    )
    await announce(rt, event, "video_failed", video=video, error=error, final=final)
