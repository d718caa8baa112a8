"""Videos: import, read, edit, delete (listing: :mod:`streamforge.library.listing`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from streamforge.config import Settings
from streamforge.db.models import Job, JobState, Privacy, Video, VideoStatus, new_id
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, NotFound
from streamforge.jobs import store
from streamforge.storage import StorageBackend

MAX_TITLE = 200


def video_prefix(video_id: str) -> str:
    return f"videos/{video_id}/"


def safe_filename(name: str) -> str:
    """A storage-safe version of an uploaded file's name (never used as a path as given)."""
    base = unicodedata.normalize("NFKD", Path(name.replace("\\", "/")).name)
    base = base.encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:120]
    return base or "source"


def title_from_filename(name: str) -> str:
    stem = Path(name.replace("\\", "/")).stem
    title = re.sub(r"[_.]+", " ", stem).strip()
    return (title or "Untitled")[:MAX_TITLE]


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidRequest("title must not be empty")
    if len(title) > MAX_TITLE:
        raise InvalidRequest(f"title is longer than {MAX_TITLE} characters")
    return title


@dataclass(frozen=True)
class Imported:
    video_id: str
    job_id: str


async def import_file(
    db: Database,
    storage: StorageBackend,
    settings: Settings,
    path: Path,
    *,
    title: str | None = None,
    description: str = "",
    privacy: Privacy = Privacy.PUBLIC,
    owner_id: str | None = None,
) -> Imported:
    """Copy a local file into storage and queue its transcode. The source stays untouched."""
    if not path.is_file():
        raise InvalidRequest(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidRequest(f"{path}: the file is empty")
    video_id = new_id()
    source_key = f"{video_prefix(video_id)}source/{safe_filename(path.name)}"
    await storage.put_file(source_key, path)
    return await create_queued(
        db,
        settings,
        video_id=video_id,
        source_key=source_key,
        filename=path.name,
        size=size,
        title=clean_title(title) if title else title_from_filename(path.name),
        description=description,
        privacy=privacy,
        owner_id=owner_id,
    )


async def create_queued(
    db: Database,
    settings: Settings,
    *,
    video_id: str,
    source_key: str,
    filename: str,
    size: int,
    title: str,
    description: str = "",
    privacy: Privacy = Privacy.PUBLIC,
    owner_id: str | None = None,
) -> Imported:
    """Create the video row and its transcode job in one transaction (its source is stored)."""
    async with db.session() as s:
        s.add(
            Video(
                id=video_id,
                title=title,
                description=description,
                status=VideoStatus.QUEUED,
                privacy=privacy,
                owner_id=owner_id,
                source_key=source_key,
                source_filename=filename[:255],
                source_size=size,
            )
        )
        await s.flush()
        job = await store.create_job(s, video_id, max_attempts=settings.jobs.max_attempts)
        return Imported(video_id=video_id, job_id=job.id)


async def get_video(s: AsyncSession, video_id: str) -> Video:
    video = await s.get(Video, video_id)
    if video is None:
        raise NotFound(f"no video {video_id!r}")
    return video


async def update_video(
    s: AsyncSession,
    video_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    privacy: Privacy | None = None,
) -> Video:
    video = await get_video(s, video_id)
    if title is not None:
        video.title = clean_title(title)
    if description is not None:
        if len(description) > 10_000:
            raise InvalidRequest("description is longer than 10000 characters")
        video.description = description
    if privacy is not None and privacy != video.privacy:
        video.privacy = privacy
        video.media_epoch += 1  # every media link given out before stops working
    await s.flush()
    return video


async def delete_video(db: Database, storage: StorageBackend, video_id: str) -> None:
    """Delete the row (cancelling its jobs) and then every stored file of the video."""
    async with db.session() as s:
        video = await get_video(s, video_id)
        jobs = (await s.execute(select(Job).where(Job.video_id == video_id))).scalars().all()
        for job in jobs:
            if job.state in (JobState.QUEUED, JobState.RUNNING):
                job.state = JobState.CANCELLED
        await s.flush()
        await s.delete(video)
    await storage.delete_prefix(video_prefix(video_id))
