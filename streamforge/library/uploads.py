"""Resumable uploads (tus): sessions, durable appends to a part file, completion, expiry.

Bytes arrive in ``<data_dir>/uploads/<id>.part``. They are fsynced before their offset is
committed to the database, so the recorded offset never counts a byte that is not on disk.
The file may hold more than the recorded offset only after a write was cut short (a killed
process); :func:`sync_part` cuts that tail off before the upload is read or written again.

One writer per upload: :class:`Writers` is an in-process registry, enough for the embedded
server (one process owns ``data_dir``). Several web nodes writing the same upload would need
a shared lock and a shared disk; the offset is still updated compare-and-set, so a second
node can never move it backwards or skip bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select

from streamforge.auth import quota
from streamforge.config import Settings
from streamforge.db.models import Privacy, UploadSession, Video, new_id, utcnow
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, NotFound, StorageError, StreamForgeError
from streamforge.library import direct_uploads
from streamforge.library.videos import (
    Imported,
    clean_title,
    create_queued,
    safe_filename,
    title_from_filename,
    video_prefix,
)
from streamforge.storage import StorageBackend

log = logging.getLogger(__name__)

KIND = "tus"
PART_DIR = "uploads"
#: Received bytes are written to disk in pieces of about this size.
FLUSH_BYTES = 1024 * 1024
#: Upload-Metadata keys kept (others are ignored) and the longest value of each.
METADATA_LIMITS = {
    "filename": 255,
    "title": 200,
    "description": 10_000,
    "filetype": 100,
    "privacy": 16,
}
CHECKSUMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}

T = TypeVar("T")


class UploadRejected(StreamForgeError):
    """A tus request refused with a protocol status (409, 410, 413, 423, 460…)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # a key of CHECKSUMS
    digest: bytes


@dataclass(frozen=True)
class Appended:
    upload: UploadSession
    #: The video and job created when this request delivered the last byte.
    imported: Imported | None = None


@dataclass
class Writers:
    """Upload ids being written (or purged) by this process right now."""

    busy: set[str] = field(default_factory=set)

    def try_acquire(self, upload_id: str) -> bool:
        if upload_id in self.busy:
            return False
        self.busy.add(upload_id)
        return True

    def release(self, upload_id: str) -> None:
        self.busy.discard(upload_id)

    @contextlib.contextmanager
    def hold(self, upload_id: str) -> Iterator[None]:
        """Be the only writer of ``upload_id``, or raise 423 at once (never wait)."""
        if not self.try_acquire(upload_id):
            raise UploadRejected(
                423, "upload_locked", f"upload {upload_id} is being written by another request"
            )
        try:
            yield
        finally:
            self.release(upload_id)


def part_path(settings: Settings, upload_id: str) -> Path:
    return settings.data_dir / PART_DIR / f"{upload_id}.part"


def is_complete(upload: UploadSession) -> bool:
    return upload.completed_at is not None


def clean_metadata(raw: dict[str, str]) -> dict[str, str]:
    """Keep the allowlisted keys; refuse values that are too long or invalid."""
    meta = {}
    for key, limit in METADATA_LIMITS.items():
        if key not in raw:
            continue
        value = raw[key]
        if len(value) > limit:
            raise InvalidRequest(f"Upload-Metadata {key} is longer than {limit} characters")
        if any(ord(c) < 32 for c in value) and key != "description":
            raise InvalidRequest(f"Upload-Metadata {key} contains control characters")
        meta[key] = value
    if "privacy" in meta and meta["privacy"] not in {p.value for p in Privacy}:
        choices = ", ".join(p.value for p in Privacy)
        raise InvalidRequest(f"Upload-Metadata privacy must be one of {choices}")
    if "title" in meta:
        meta["title"] = clean_title(meta["title"])
    return meta


def _expiry(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(hours=settings.uploads.expire_hours)


async def create_upload(
    db: Database,
    settings: Settings,
    *,
    length: int,
    meta: dict[str, str],
    owner_id: str | None = None,
) -> UploadSession:
    """Open a tus upload of ``length`` bytes. Its video id and storage key are fixed now.

    The owner's quota must have room for all ``length`` bytes (QuotaExceeded, a 413)."""
    limit = settings.uploads.max_size
    if length > limit:
        raise UploadRejected(
            413,
            "upload_too_large",
            f"Upload-Length {length} is larger than this server's limit of {limit} bytes",
        )
    if length < 1:
        raise InvalidRequest("Upload-Length must be at least 1 (an empty file is not a video)")
    meta = clean_metadata(meta)
    name = safe_filename(meta.get("filename", ""))
    now = utcnow()
    upload = UploadSession(
        id=new_id(),
        kind=KIND,
        length=length,
        offset=0,
        meta=meta,
        storage_key=f"{video_prefix(new_id())}source/{name}",
        owner_id=owner_id,
        created_at=now,
        updated_at=now,
        expires_at=_expiry(settings, now),
    )
    async with db.session() as s:
        if owner_id is not None:
            await quota.reserve(s, settings, owner_id, length)
        s.add(upload)
    return upload


async def _load(db: Database, upload_id: str) -> UploadSession:
    async with db.session() as s:
        upload = await s.get(UploadSession, upload_id)
    if upload is None or upload.kind != KIND:
        raise NotFound(f"no upload {upload_id!r} (it may have been finished long ago or deleted)")
    return upload


async def get_upload(db: Database, upload_id: str) -> UploadSession:
    """The upload, or NotFound; an unfinished upload past its expiry is 410 Gone."""
    upload = await _load(db, upload_id)
    expires = upload.expires_at
    if not is_complete(upload) and expires is not None and expires <= utcnow():
        raise UploadRejected(
            410,
            "upload_expired",
            f"upload {upload_id} expired at {expires.isoformat()}; start a new upload",
        )
    return upload


async def sync_part(db: Database, settings: Settings, upload_id: str) -> UploadSession:
    """Make the part file agree with the recorded offset; return the upload.

    The caller must be the upload's writer (:class:`Writers`). The offset is read here,
    after that: an offset read before becoming the writer may be older than the file (a
    PATCH that finished in between), and cutting the file to it would lose acknowledged
    bytes.
    """
    return await _sync(db, settings, await _load(db, upload_id))


async def _sync(db: Database, settings: Settings, upload: UploadSession) -> UploadSession:
    """:func:`sync_part` for an ``upload`` its writer read after becoming the writer."""
    if is_complete(upload):
        return upload
    path = part_path(settings, upload.id)
    size = path.stat().st_size if path.exists() else 0
    if size > upload.offset:
        # the tail of a write that never got acknowledged (the process was killed)
        log.info("upload %s: cutting %d unacknowledged bytes", upload.id, size - upload.offset)
        await asyncio.to_thread(os.truncate, path, upload.offset)
    elif size < upload.offset:
        log.error(
            "upload %s: part file has %d bytes but %d were acknowledged; asking for the rest",
            upload.id,
            size,
            upload.offset,
        )
        return await _set_offset(db, settings, upload.id, upload.offset, size)
    return upload


async def _set_offset(
    db: Database, settings: Settings, upload_id: str, expected: int, offset: int
) -> UploadSession:
    """Move the offset compare-and-set (another node may have written meanwhile)."""
    async with db.session() as s:
        query = select(UploadSession).where(UploadSession.id == upload_id).with_for_update()
        upload = (await s.execute(query)).scalar_one_or_none()
        if upload is None:
            raise NotFound(f"no upload {upload_id!r}")
        if upload.offset != expected:
            raise UploadRejected(
                409,
                "offset_conflict",
                f"upload {upload_id} moved to offset {upload.offset} while this request "
                f"wrote from {expected}",
            )
        now = utcnow()
        upload.offset = offset
        upload.updated_at = now
        upload.expires_at = _expiry(settings, now)
    return upload


async def append(
    db: Database,
    storage: StorageBackend,
    settings: Settings,
    upload_id: str,
    *,
    offset: int,
    body: AsyncIterable[bytes],
    content_length: int | None,
    checksum: Checksum | None = None,
) -> Appended:
    """Stream ``body`` into the upload at ``offset``; publish it when the last byte lands.

    Nothing is written when the offset is wrong (409) or the body is too long (413); a
    checksum mismatch (460) discards the whole chunk. When the client goes away mid-body,
    the bytes received so far are kept (unless a checksum was asked for) and the
    cancellation goes on; when no byte arrives for ``[uploads] idle_timeout`` seconds, the
    same bytes are kept and the chunk ends with 408.
    """
    upload = await _sync(db, settings, await get_upload(db, upload_id))  # (we are the writer)
    if offset != upload.offset:
        raise UploadRejected(
            409,
            "offset_mismatch",
            f"Upload-Offset {offset} does not match the upload's offset {upload.offset}",
        )
    assert upload.length is not None
    remaining = upload.length - upload.offset
    if content_length is not None and content_length > remaining:
        raise UploadRejected(
            413,
            "chunk_too_large",
            f"the request carries {content_length} bytes but only {remaining} remain "
            f"of Upload-Length {upload.length}",
        )
    idle = settings.uploads.idle_timeout
    written, ending = await _receive(
        part_path(settings, upload_id), upload, body, remaining, checksum, idle
    )
    if written:
        upload = await _set_offset(db, settings, upload_id, offset, offset + written)
    if ending is Ending.GONE:
        raise asyncio.CancelledError
    if ending is Ending.STALLED:
        raise UploadRejected(
            408,
            "upload_stalled",
            f"no data arrived for {idle:g} s; the upload is at offset {upload.offset} "
            "(what arrived before was kept unless it had a checksum): resume from there",
        )
    imported = None
    if upload.offset == upload.length and not is_complete(upload):
        imported = await finish(db, storage, settings, upload)
        upload = await _load(db, upload_id)
    return Appended(upload, imported)


class _PartFile:
    """The part file opened for writing at ``start``; blocking methods run in a thread."""

    def __init__(self, path: Path, start: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        self.start = start
        self.written = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, self.start + self.written)
            self.written += n
            view = view[n:]

    def sync(self) -> None:
        os.fsync(self.fd)

    def rollback(self) -> None:
        os.ftruncate(self.fd, self.start)
        os.fsync(self.fd)
        self.written = 0

    def close(self) -> None:
        os.close(self.fd)


async def _disk(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking disk call in a thread; a cancelled caller still waits for it to land,
    so the file never changes behind the next writer's back."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


class Ending(enum.Enum):
    """How a chunk's body ended."""

    COMPLETE = "complete"
    GONE = "gone"  # the client went away (the request was cancelled)
    STALLED = "stalled"  # nothing arrived for the idle timeout


class _Stalled(Exception):
    """No piece of the body arrived within the idle timeout."""


async def _pieces(body: AsyncIterable[bytes], idle: float) -> AsyncIterator[bytes]:
    """``body``'s pieces; :class:`_Stalled` when none arrives within ``idle`` seconds."""
    pieces = aiter(body)
    while True:
        try:
            async with asyncio.timeout(idle):
                piece = await anext(pieces)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise _Stalled from None
        yield piece


async def _receive(
    path: Path,
    upload: UploadSession,
    body: AsyncIterable[bytes],
    remaining: int,
    checksum: Checksum | None,
    idle: float,
) -> tuple[int, Ending]:
    """Write ``body`` after the acknowledged bytes; return the bytes kept and synced, and
    how the body ended. On any refusal or error the file is cut back to ``start``."""
    try:
        part = await asyncio.to_thread(_PartFile, path, upload.offset)
    except OSError as exc:
        raise StorageError(f"cannot open the data of upload {upload.id}: {exc}") from exc
    hasher = CHECKSUMS[checksum.algorithm]() if checksum else None
    buffer = bytearray()
    received = 0
    try:
        try:
            async for piece in _pieces(body, idle):
                received += len(piece)
                if received > remaining:
                    raise UploadRejected(
                        413,
                        "chunk_too_large",
                        f"the request body is longer than the {remaining} bytes that remain "
                        f"of Upload-Length {upload.length}; nothing was stored",
                    )
                if hasher is not None:
                    hasher.update(piece)
                buffer += piece
                if len(buffer) >= FLUSH_BYTES:
                    data = bytes(buffer)
                    buffer.clear()  # before the await: a cancelled write still lands
                    await _disk(part.write, data)
            data = bytes(buffer)
            buffer.clear()
            await _disk(part.write, data)
            if checksum is not None and hasher is not None and hasher.digest() != checksum.digest:
                raise UploadRejected(
                    460,
                    "checksum_mismatch",
                    f"the {checksum.algorithm} checksum of the chunk does not match "
                    "Upload-Checksum; the chunk was discarded",
                )
            await _disk(part.sync)
            return part.written, Ending.COMPLETE
        except (asyncio.CancelledError, _Stalled) as exc:
            ending = Ending.STALLED if isinstance(exc, _Stalled) else Ending.GONE
            if hasher is not None:  # what arrived cannot be verified: drop it
                await _disk(part.rollback)
                return 0, ending
            await _disk(part.write, bytes(buffer))
            await _disk(part.sync)
            return part.written, ending
        except BaseException:
            await _disk(part.rollback)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write the data of upload {upload.id}: {exc}") from exc
    finally:
        part.close()


async def finish(
    db: Database, storage: StorageBackend, settings: Settings, upload: UploadSession
) -> Imported | None:
    """Publish a fully received upload: store its file, create the video and its job.

    Safe to run again after a crash at any step; returns None when the video already
    existed (its queued job is then re-sent by the reconciler).
    """
    assert upload.storage_key is not None
    assert upload.length is not None
    key = upload.storage_key
    video_id = key.split("/")[1]
    path = part_path(settings, upload.id)
    if path.exists():
        await storage.move_file(key, path)
    elif not await storage.exists(key):
        raise StorageError(f"upload {upload.id}: its data is missing; upload the file again")
    async with db.session() as s:
        exists = await s.get(Video, video_id) is not None
    imported = None
    if not exists:
        meta = upload.meta or {}
        filename = Path(meta.get("filename", "").replace("\\", "/")).name
        title = meta.get("title") or (title_from_filename(filename) if filename else "Untitled")
        imported = await create_queued(
            db,
            settings,
            video_id=video_id,
            source_key=key,
            filename=filename or key.rsplit("/", 1)[1],
            size=upload.length,
            title=title,
            description=meta.get("description", ""),
            privacy=Privacy(meta.get("privacy", Privacy.PUBLIC.value)),
            owner_id=upload.owner_id,
        )
    async with db.session() as s:
        row = await s.get(UploadSession, upload.id)
        if row is not None:
            now = utcnow()
            row.video_id = video_id
            row.completed_at = now
            row.updated_at = now
            row.expires_at = _expiry(settings, now)  # the record lives on for status queries
    log.info("upload %s complete: video %s", upload.id, video_id)
    return imported


async def terminate(db: Database, settings: Settings, upload_id: str) -> None:
    """Delete an upload and its partial data (termination). Its video, if any, stays."""
    upload = await _load(db, upload_id)
    async with db.session() as s:
        await s.execute(delete(UploadSession).where(UploadSession.id == upload.id))
    part_path(settings, upload_id).unlink(missing_ok=True)


@dataclass(frozen=True)
class Purged:
    finished: list[str]
    deleted: list[str]


async def purge(
    db: Database,
    storage: StorageBackend,
    settings: Settings,
    writers: Writers,
    *,
    now: datetime | None = None,
) -> Purged:
    """Delete expired uploads and their files; finish uploads whose bytes all arrived but
    whose publishing was cut short. Uploads being written are left alone."""
    now = now or utcnow()
    async with db.session() as s:
        rows = await s.execute(
            select(UploadSession.id).where(
                UploadSession.kind == KIND,
                or_(
                    UploadSession.expires_at <= now,
                    (UploadSession.completed_at.is_(None))
                    & (UploadSession.offset == UploadSession.length),
                ),
            )
        )
        ids = list(rows.scalars())
    finished, deleted = [], []
    for upload_id in ids:
        if not writers.try_acquire(upload_id):
            continue
        try:
            try:
                upload = await _load(db, upload_id)  # (read as its writer)
            except NotFound:
                continue
            if not is_complete(upload) and upload.offset == upload.length:
                upload = await _sync(db, settings, upload)
                await finish(db, storage, settings, upload)
                finished.append(upload_id)
            elif upload.expires_at is not None and upload.expires_at <= now:
                await terminate(db, settings, upload_id)
                deleted.append(upload_id)
        except Exception:
            log.exception("upload %s: purge pass failed", upload_id)
        finally:
            writers.release(upload_id)
    deleted += await _sweep_orphans(db, settings, writers, now)
    return Purged(finished=finished, deleted=deleted)


async def _sweep_orphans(
    db: Database, settings: Settings, writers: Writers, now: datetime
) -> list[str]:
    """Part files without an upload record, untouched for longer than the expiry."""
    folder = settings.data_dir / PART_DIR
    if not folder.is_dir():
        return []
    cutoff = (now - timedelta(hours=settings.uploads.expire_hours)).timestamp()
    swept = []
    for path in folder.glob("*.part"):
        upload_id = path.stem
        if upload_id in writers.busy or path.stat().st_mtime > cutoff:
            continue
        async with db.session() as s:
            if await s.get(UploadSession, upload_id) is not None:
                continue
        path.unlink(missing_ok=True)
        swept.append(upload_id)
    return swept


async def purge_forever(
    db: Database, storage: StorageBackend, settings: Settings, writers: Writers
) -> None:
    """Run :func:`purge` now and then every ``[uploads] purge_interval`` seconds."""
    while True:
        try:
            aborted = await direct_uploads.purge_expired(db, storage)
            if aborted:
                log.info("uploads: %d abandoned direct upload(s) aborted", aborted)
            result = await purge(db, storage, settings, writers)
            if result.finished or result.deleted:
                log.info(
                    "uploads: %d finished, %d expired deleted",
                    len(result.finished),
                    len(result.deleted),
                )
        except Exception:
            log.exception("uploads: purge pass failed")
        await asyncio.sleep(settings.uploads.purge_interval)
