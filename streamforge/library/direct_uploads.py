"""Direct uploads to object storage (S3 multipart): the browser sends the bytes straight
to the bucket with presigned part URLs; the server only creates, signs, checks and
completes. Recorded as ``UploadSession`` rows of kind ``s3``."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from streamforge.auth import quota
from streamforge.config import Settings
from streamforge.db.models import Privacy, UploadSession, new_id, utcnow
from streamforge.db.session import Database
from streamforge.errors import (
    FileTooLarge,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    StorageError,
)
from streamforge.library.videos import (
    Imported,
    clean_title,
    create_queued,
    safe_filename,
    title_from_filename,
    video_prefix,
)
from streamforge.storage import MultipartStorage, StorageBackend, UploadedPart

log = logging.getLogger(__name__)

KIND = "s3"
MB = 1024 * 1024
DEFAULT_PART_SIZE = 10 * MB
MIN_PART_SIZE = 5 * MB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
MAX_SIGN_AT_ONCE = 100


def multipart_of(storage: StorageBackend) -> MultipartStorage:
    if not isinstance(storage, MultipartStorage):
        raise InvalidRequest(
            f"direct uploads need a storage backend with multipart support (this server "
            f"uses {storage.name!r}); upload with tus at /api/v1/uploads instead"
        )
    return storage


def part_size_for(size: int, preferred: int = DEFAULT_PART_SIZE) -> int:
    """The preferred part size, raised (in whole MB) so no file needs more than 10,000."""
    part = max(preferred, MIN_PART_SIZE)
    if math.ceil(size / part) > MAX_PARTS:
        part = math.ceil(size / MAX_PARTS / MB) * MB
    return part


@dataclass(frozen=True)
class DirectUpload:
    id: str
    key: str
    upload_id: str
    size: int
    part_size: int
    part_count: int
    video_id: str | None

    @classmethod
    def of(cls, row: UploadSession) -> DirectUpload:
        meta = row.meta
        return cls(
            id=row.id,
            key=str(row.storage_key),
            upload_id=meta["upload_id"],
            size=int(row.length or 0),
            part_size=int(meta["part_size"]),
            part_count=int(meta["part_count"]),
            video_id=row.video_id,
        )


async def create(
    db: Database,
    storage: StorageBackend,
    settings: Settings,
    *,
    filename: str,
    size: int,
    content_type: str,
    title: str | None,
    owner_id: str | None = None,
    privacy: Privacy = Privacy.PUBLIC,
) -> DirectUpload:
    target = multipart_of(storage)
    if size <= 0:
        raise InvalidRequest("size must be a positive number of bytes")
    if size > settings.uploads.max_size:
        raise FileTooLarge(
            f"the file is {size} bytes; this server accepts at most {settings.uploads.max_size}"
        )
    if owner_id is not None:  # before the storage is asked for anything
        await quota.check(db, settings, owner_id, size)
    video_id = new_id()
    key = f"{video_prefix(video_id)}source/{safe_filename(filename)}"
    part_size = part_size_for(size)
    part_count = max(1, math.ceil(size / part_size))
    upload_id = await target.create_multipart(key, content_type or "application/octet-stream")
    row = UploadSession(
        id=new_id(),
        kind=KIND,
        length=size,
        offset=0,
        storage_key=key,
        meta={
            "upload_id": upload_id,
            "part_size": part_size,
            "part_count": part_count,
            "video_id": video_id,
            "filename": filename[:255],
            "title": clean_title(title) if title else title_from_filename(filename),
            "privacy": privacy.value,
        },
        owner_id=owner_id,
        expires_at=utcnow() + timedelta(hours=settings.uploads.expire_hours),
    )
    try:
        async with db.session() as s:
            if owner_id is not None:  # again, now atomically: another upload may have won
                await quota.reserve(s, settings, owner_id, size)
            s.add(row)
    except QuotaExceeded:
        await target.abort_multipart(key, upload_id)
        raise
    return DirectUpload.of(row)


async def _load(db: Database, upload_id: str) -> UploadSession:
    async with db.session() as s:
        row = await s.get(UploadSession, upload_id)
    if row is None or row.kind != KIND:
        raise NotFound(f"no direct upload {upload_id!r}")
    return row


async def owner_of(db: Database, upload_id: str) -> str | None:
    """The account that started the upload (NotFound when there is no such upload)."""
    return (await _load(db, upload_id)).owner_id


async def get(db: Database, upload_id: str) -> DirectUpload:
    return DirectUpload.of(await _load(db, upload_id))


async def _touch(db: Database, settings: Settings, upload_id: str) -> None:
    """An upload that asks for part URLs is alive: push its expiry back."""
    async with db.session() as s:
        row = await s.get(UploadSession, upload_id)
        if row is not None:
            row.expires_at = utcnow() + timedelta(hours=settings.uploads.expire_hours)


async def sign_parts(
    db: Database,
    storage: StorageBackend,
    settings: Settings,
    upload_id: str,
    numbers: list[int],
) -> list[tuple[int, str]]:
    upload = await get(db, upload_id)
    if upload.video_id:
        raise InvalidRequest("this upload is already complete")
    if not numbers or len(numbers) > MAX_SIGN_AT_ONCE:
        raise InvalidRequest(f"ask for 1 to {MAX_SIGN_AT_ONCE} part numbers at a time")
    bad = [n for n in numbers if not 1 <= n <= upload.part_count]
    if bad:
        raise InvalidRequest(f"part numbers must be between 1 and {upload.part_count}: {bad}")
    target = multipart_of(storage)
    await _touch(db, settings, upload_id)
    return [(n, await target.presign_part(upload.key, upload.upload_id, n)) for n in numbers]


async def list_parts(
    db: Database, storage: StorageBackend, upload_id: str
) -> tuple[DirectUpload, list[UploadedPart]]:
    upload = await get(db, upload_id)
    if upload.video_id:
        return upload, []
    return upload, await multipart_of(storage).list_parts(upload.key, upload.upload_id)


def expected_size(upload: DirectUpload, number: int) -> int:
    if number < upload.part_count:
        return upload.part_size
    return upload.size - upload.part_size * (upload.part_count - 1)


async def complete(
    db: Database, storage: StorageBackend, settings: Settings, upload_id: str
) -> Imported:
    """Check every part is there with the right size, assemble, and queue the video."""
    row = await _load(db, upload_id)
    upload = DirectUpload.of(row)
    if upload.video_id:
        raise InvalidRequest("this upload is already complete")
    target = multipart_of(storage)
    parts = await target.list_parts(upload.key, upload.upload_id)
    numbers = [p.number for p in parts]
    if numbers != list(range(1, upload.part_count + 1)):
        missing = sorted(set(range(1, upload.part_count + 1)) - set(numbers))
        raise InvalidRequest(
            f"expected {upload.part_count} parts, the storage has {len(parts)}; "
            f"missing: {missing[:20]}"
        )
    wrong = [p.number for p in parts if p.size != expected_size(upload, p.number)]
    total = sum(p.size for p in parts)
    if wrong or total != upload.size:
        raise InvalidRequest(
            f"the parts add up to {total} bytes, the upload declared {upload.size}"
            + (f"; parts of the wrong size: {wrong[:20]}" if wrong else "")
        )
    await target.complete_multipart(upload.key, upload.upload_id, parts)
    meta: dict[str, Any] = row.meta
    imported = await create_queued(
        db,
        settings,
        video_id=meta["video_id"],
        source_key=upload.key,
        filename=meta["filename"],
        size=upload.size,
        title=meta["title"],
        privacy=Privacy(meta.get("privacy", Privacy.PUBLIC.value)),
        owner_id=row.owner_id,
    )
    async with db.session() as s:
        stored = await s.get(UploadSession, upload_id)
        if stored is not None:
            stored.video_id = imported.video_id
            stored.offset = upload.size
            stored.completed_at = utcnow()
    return imported


async def abort(db: Database, storage: StorageBackend, upload_id: str) -> None:
    row = await _load(db, upload_id)
    upload = DirectUpload.of(row)
    if upload.video_id:
        raise InvalidRequest("this upload is complete; delete the video instead")
    await multipart_of(storage).abort_multipart(upload.key, upload.upload_id)
    async with db.session() as s:
        stored = await s.get(UploadSession, upload_id)
        if stored is not None:
            await s.delete(stored)


async def purge_expired(db: Database, storage: StorageBackend) -> int:
    """Abort multipart uploads past their expiry (abandoned by their client)."""
    async with db.session() as s:
        rows = (
            (
                await s.execute(
                    select(UploadSession).where(
                        UploadSession.kind == KIND,
                        UploadSession.completed_at.is_(None),
                        UploadSession.expires_at < utcnow(),
                    )
                )
            )
            .scalars()
            .all()
        )
    count = 0
    for row in rows:
        try:
            await abort(db, storage, row.id)
            count += 1
        except (StorageError, InvalidRequest, NotFound) as exc:
            log.warning("could not abort expired direct upload %s: %s", row.id, exc)
    return count
