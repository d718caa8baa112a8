"""Job state in the database: claim with a lease, renew, succeed, fail, reconcile.

The job row is the source of truth; broker messages only carry its id. Every transition is
one conditional UPDATE, so two runners racing for the same job cannot both win, and a
runner whose lease was taken over (its ``lease_token`` changed) cannot publish.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from streamforge.db.models import Job, JobAttempt, JobState, Video, VideoStatus
from streamforge.db.session import Database


def now() -> datetime:
    return datetime.now(UTC)


def _process_start(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # field 22 (starttime) counted after the ")" that ends the command name
    return stat.rsplit(")", 1)[1].split()[19]


def worker_identity() -> str:
    """``host:pid:start`` of this process; names the holder of a lease."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def owner_is_dead_here(owner: str | None) -> bool:
    """True when ``owner`` names a process on this host that no longer exists.

    Lets a restarted server take back its own jobs at once instead of waiting for the
    lease to run out. Owners on other hosts are never judged dead this way.
    """
    if not owner:
        return False
    try:
        host, pid_s, start = owner.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return owner != worker_identity()
    return _process_start(pid) != start


@dataclass(frozen=True)
class Claim:
    """A runner's hold on one attempt of one job."""

    job_id: str
    video_id: str
    attempt: int
    max_attempts: int
    token: int
    owner: str


async def create_job(
    session: AsyncSession, video_id: str, *, max_attempts: int, kind: str = "transcode"
) -> Job:
    job = Job(video_id=video_id, kind=kind, max_attempts=max_attempts, state=JobState.QUEUED)
    session.add(job)
    await session.flush()
    return job


async def claim(db: Database, job_id: str, owner: str, lease_seconds: float) -> Claim | None:
    """Take the job if it is queued and due; None when someone else has it or it is done."""
    t = now()
    async with db.session() as s:
        result = await s.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.state == JobState.QUEUED,
                (Job.run_after.is_(None)) | (Job.run_after <= t),
                Job.attempts < Job.max_attempts,
            )
            .values(
                state=JobState.RUNNING,
                lease_owner=owner,
                lease_expires_at=t + timedelta(seconds=lease_seconds),
                lease_token=Job.lease_token + 1,
                attempts=Job.attempts + 1,
                updated_at=t,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        job = (await s.execute(select(Job).where(Job.id == job_id))).scalar_one()
        s.add(JobAttempt(job_id=job.id, number=job.attempts, worker=owner, started_at=t))
        await s.execute(
            update(Video)
            .where(Video.id == job.video_id)
            .values(status=VideoStatus.PROCESSING, error=None, progress=0.0, updated_at=t)
        )
        return Claim(job.id, job.video_id, job.attempts, job.max_attempts, job.lease_token, owner)


def _held(c: Claim) -> object:
    return (Job.id == c.job_id) & (Job.lease_token == c.token) & (Job.state == JobState.RUNNING)


async def renew(db: Database, c: Claim, lease_seconds: float) -> bool:
    """Extend the lease; False when it was lost (expired and taken, or job cancelled)."""
    async with db.session() as s:
        result = await s.execute(
            update(Job)
            .where(_held(c))  # type: ignore[arg-type]
            .values(lease_expires_at=now() + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def set_progress(db: Database, c: Claim, percent: float) -> None:
    async with db.session() as s:
        await s.execute(
            update(Video)
            .where(Video.id == c.video_id, Video.status == VideoStatus.PROCESSING)
            .values(progress=max(0.0, min(100.0, percent)))
        )


async def _finish_attempt(s: AsyncSession, c: Claim, outcome: str, error: str | None) -> None:
    await s.execute(
        update(JobAttempt)
        .where(JobAttempt.job_id == c.job_id, JobAttempt.number == c.attempt)
        .values(outcome=outcome, error=error, finished_at=now())
    )


async def succeed(s: AsyncSession, c: Claim) -> bool:
    """Mark the job done inside the caller's transaction (which also publishes the video).

    Returns False, changing nothing, when the claim is stale: the caller must roll back.
    """
    t = now()
    result = await s.execute(
        update(Job)
        .where(_held(c))  # type: ignore[arg-type]
        .values(
            state=JobState.SUCCEEDED,
            lease_owner=None,
            lease_expires_at=None,
            last_error=None,
            finished_at=t,
            updated_at=t,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await _finish_attempt(s, c, "succeeded", None)
    return True


@dataclass(frozen=True)
class Failure:
    final: bool
    retry_at: datetime | None


async def fail(db: Database, c: Claim, error: str, *, backoff: float) -> Failure | None:
    """Record a failed attempt: requeue with backoff, or fail the video for good.

    None when the claim was stale (someone else owns the job now).
    """
    t = now()
    final = c.attempt >= c.max_attempts
    retry_at = None if final else t + timedelta(seconds=backoff * 2 ** (c.attempt - 1))
    async with db.session() as s:
        result = await s.execute(
            update(Job)
            .where(_held(c))  # type: ignore[arg-type]
            .values(
                state=JobState.FAILED if final else JobState.QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                last_error=error,
                run_after=retry_at,
                enqueued_at=None,
                finished_at=t if final else None,
                updated_at=t,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        await _finish_attempt(s, c, "failed", error)
        await _set_video_after_failure(s, c.video_id, error, final)
    return Failure(final=final, retry_at=retry_at)


async def _set_video_after_failure(s: AsyncSession, video_id: str, error: str, final: bool) -> None:
    values: dict[str, object] = {"error": error, "updated_at": now()}
    values["status"] = VideoStatus.FAILED if final else VideoStatus.QUEUED
    await s.execute(update(Video).where(Video.id == video_id).values(**values))


async def hand_back(db: Database, c: Claim) -> bool:
    """Give a running attempt back to the queue, due at once, as if it never started: a
    stopping worker's deliberate hand-back is not a failure. Its attempt is not counted and
    leaves no history row (the next claim reuses the number). False when the claim is stale.
    """
    t = now()
    async with db.session() as s:
        result = await s.execute(
            update(Job)
            .where(_held(c))  # type: ignore[arg-type]
            .values(
                state=JobState.QUEUED,
                attempts=Job.attempts - 1,
                lease_owner=None,
                lease_expires_at=None,
                run_after=None,
                enqueued_at=t,  # the caller sends the message now
                updated_at=t,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        await s.execute(
            delete(JobAttempt).where(JobAttempt.job_id == c.job_id, JobAttempt.number == c.attempt)
        )
        await s.execute(
            update(Video)
            .where(Video.id == c.video_id)
            .values(status=VideoStatus.QUEUED, progress=0.0, updated_at=t)
        )
    return True


async def requeue_failed(db: Database, job_id: str, *, attempts: int) -> str | None:
    """Queue a failed job again with ``attempts`` more tries, and its video with it.

    Attempt numbers go on from where they stopped, so the history keeps every try and a new
    attempt's events are new events. Returns the video's id; None, changing nothing, when
    the job does not exist or is not failed.
    """
    t = now()
    async with db.session() as s:
        result = await s.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.FAILED)
            .values(
                state=JobState.QUEUED,
                max_attempts=Job.attempts + attempts,
                run_after=None,
                enqueued_at=None,
                finished_at=None,
                updated_at=t,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        video_id = (await s.execute(select(Job.video_id).where(Job.id == job_id))).scalar_one()
        await s.execute(
            update(Video)
            .where(Video.id == video_id)
            .values(status=VideoStatus.QUEUED, error=None, progress=0.0, updated_at=t)
        )
        return str(video_id)


@dataclass(frozen=True)
class Lost:
    """A job whose runner vanished; ``final`` when it has no attempts left."""

    job_id: str
    video_id: str
    error: str
    final: bool


LOST_ERROR = (
    "the worker running attempt {n} stopped without reporting back (killed, crashed or shut down)"
)


async def reap_lost(db: Database) -> list[Lost]:
    """Requeue (or finally fail) running jobs whose lease expired or whose local owner died."""
    t = now()
    lost: list[Lost] = []
    async with db.session() as s:
        # PostgreSQL: lock the rows read (a runner settling one right now holds it: skip it);
        # SQLite ignores FOR UPDATE (its write transactions already run one at a time)
        running = select(Job).where(Job.state == JobState.RUNNING)
        rows = (await s.execute(running.with_for_update(skip_locked=True))).scalars().all()
        for job in rows:
            expired = job.lease_expires_at is None or job.lease_expires_at < t
            if not (expired or owner_is_dead_here(job.lease_owner)):
                continue
            error = LOST_ERROR.format(n=job.attempts)
            final = job.attempts >= job.max_attempts
            result = await s.execute(
                update(Job)
                .where(
                    Job.id == job.id,
                    Job.lease_token == job.lease_token,
                    Job.state == JobState.RUNNING,  # not settled since it was read
                )
                .values(
                    state=JobState.FAILED if final else JobState.QUEUED,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=error,
                    run_after=None,
                    enqueued_at=None,
                    finished_at=t if final else None,
                    updated_at=t,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                continue
            await s.execute(
                update(JobAttempt)
                .where(JobAttempt.job_id == job.id, JobAttempt.number == job.attempts)
                .values(outcome="lost", error=error, finished_at=t)
            )
            if final:
                error = f"gave up after {job.attempts} attempts; last: {error}"
            await _set_video_after_failure(s, job.video_id, error, final)
            lost.append(Lost(job.id, job.video_id, error, final))
    return lost


async def running_attempts(db: Database, job_ids: Iterable[str]) -> dict[str, int]:
    """Of ``job_ids``, those running now, each with the number of its running attempt."""
    ids = list(job_ids)
    if not ids:
        return {}
    async with db.read() as s:
        rows = await s.execute(
            select(Job.id, Job.attempts).where(Job.id.in_(ids), Job.state == JobState.RUNNING)
        )
        return {job_id: attempts for job_id, attempts in rows.all()}


@dataclass(frozen=True)
class Due:
    """A queued job that needs a (new) broker message."""

    job_id: str
    video_id: str
    run_after: datetime | None
    #: Seconds its last message has been waiting for a worker since it was due, when it
    #: had one (None: it never had a message, or the in-process broker holds it).
    unclaimed_for: float | None = None


async def due_jobs(db: Database, *, skip: set[str], stale_after: float | None) -> list[Due]:
    """Queued jobs that need a (new) broker message.

    ``skip`` holds ids this process already has a message for. ``stale_after``: with an
    external broker, a job enqueued less than this many seconds ago is trusted to be in
    the queue; None means every queued job not in ``skip`` is due (in-process broker).
    """
    t = now()
    async with db.session() as s:
        # PostgreSQL: two reconcilers never send messages for the same job in one pass
        queued = select(Job.id, Job.video_id, Job.enqueued_at, Job.run_after).where(
            Job.state == JobState.QUEUED
        )
        rows = (await s.execute(queued.with_for_update(skip_locked=True))).all()
        due = []
        for job_id, video_id, enqueued_at, run_after in rows:
            if job_id in skip:
                continue
            unclaimed_for = None
            if stale_after is not None and enqueued_at is not None:
                if enqueued_at > t - timedelta(seconds=stale_after):
                    continue
                # a retry's message waits for its backoff first: count from when it was due
                since = max(enqueued_at, run_after) if run_after else enqueued_at
                unclaimed_for = max(0.0, (t - since).total_seconds())
            due.append(Due(job_id, video_id, run_after, unclaimed_for))
        if due:
            await s.execute(
                update(Job).where(Job.id.in_([d.job_id for d in due])).values(enqueued_at=t)
            )
        return due


async def mark_enqueued(db: Database, job_id: str) -> None:
    async with db.session() as s:
        await s.execute(update(Job).where(Job.id == job_id).values(enqueued_at=now()))
