"""What the admin page shows and does: the jobs, a retry for a failed one, and what this
process runs on (plugins, encoders, storage, broker, database)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from streamforge.config import redact_url
from streamforge.db.models import Job, JobState, Video
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, NotFound
from streamforge.jobs import store
from streamforge.library.encoding import available_encoders
from streamforge.library.paging import Cursor, Order, page_rows, seek
from streamforge.plugins import Registry

JOB_ORDER = Order("jobs", (Job.created_at, Job.id), descending=True)


@dataclass(frozen=True)
class JobRow:
    """A job as the admin page lists it (plain data: usable after the session ends)."""

    id: str
    kind: str
    video_id: str
    video_title: str
    state: JobState
    attempts: int
    max_attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class JobPage:
    """Jobs newest first, the cursors to the newer and older ones, and counts per state."""

    rows: list[JobRow]
    counts: dict[JobState, int]
    newer_cursor: str | None
    older_cursor: str | None


async def list_jobs(
    s: AsyncSession, *, state: JobState | None = None, cursor: str | None = None, limit: int = 50
) -> JobPage:
    position = Cursor.decode(cursor, JOB_ORDER) if cursor else None
    query = select(Job, Video.title).join(Video, Video.id == Job.video_id)
    if state is not None:
        query = query.where(Job.state == state)
    found = (await s.execute(seek(query, JOB_ORDER, position).limit(limit + 1))).all()
    rows = [
        JobRow(
            id=job.id,
            kind=job.kind,
            video_id=job.video_id,
            video_title=title,
            state=job.state,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            last_error=job.last_error,
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
        )
        for job, title in found
    ]
    window = page_rows(rows, JOB_ORDER, position, limit=limit)
    counted = await s.execute(select(Job.state, func.count()).group_by(Job.state))
    return JobPage(
        rows=window.rows,
        counts={JobState(state): n for state, n in counted.all()},
        newer_cursor=window.prev_cursor,
        older_cursor=window.next_cursor,
    )


async def get_job(s: AsyncSession, job_id: str) -> Job:
    job = await s.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


async def retry_job(db: Database, job_id: str, *, attempts: int) -> str:
    """Queue a failed job again with ``attempts`` more tries; returns its video's id.

    The caller sends the job to the broker (the reconciler would, too, a little later).
    """
    video_id = await store.requeue_failed(db, job_id, attempts=attempts)
    if video_id is not None:
        return video_id
    async with db.read() as s:
        job = await get_job(s, job_id)
        raise InvalidRequest(f"job {job_id} is {job.state.value}; only a failed job can be retried")


@dataclass(frozen=True)
class EncoderStatus:
    name: str
    codec: str
    hardware: bool
    works: bool


@dataclass(frozen=True)
class System:
    """What this process runs on, safe to show: no secrets in it."""

    plugins: list[tuple[str, list[str]]]
    encoders: list[EncoderStatus]
    encoder_setting: str
    storage: str
    broker: str
    database: str
    workers: int


async def describe_system(registry: Registry, db: Database) -> System:
    """The loaded plugins and hooks (like ``streamforge plugins``), which encoders really
    work here (like ``streamforge doctor``), and the services in use.

    Encoders are probed once per process (see :func:`~streamforge.library.encoding.
    encoder_works`), in a thread: a GPU driver can take seconds to answer.
    """
    settings = registry.settings
    probed = await asyncio.to_thread(available_encoders, registry)
    return System(
        plugins=registry.describe(),
        encoders=[EncoderStatus(e.name, e.codec, e.hardware, works) for e, works in probed],
        encoder_setting=settings.transcode.encoder,
        storage=settings.storage.backend,
        broker=redact_url(settings.broker.url) if settings.broker.url else "in-process",
        database=db.safe_url,
        workers=settings.jobs.workers,
    )
