"""S3-compatible storage (AWS S3, MinIO, Cloudflare R2, …) through the minio client.

Keys map to object names ``<prefix><key>``. A PUT on S3 is atomic (readers see the old
object or the whole new one), so uploads need no temporary names; streams of unknown
length are spooled to a local temporary file first so memory stays flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from minio.deleteobjects import DeleteObject

from streamforge.config import PluginConfig
from streamforge.errors import ObjectNotFound, StorageError
from streamforge.storage import ObjectInfo, StorageBackend

from .client import CLIENT_ERRORS, S3Client, s3_code
from .config import S3Config
from .multipart import S3Multipart

if TYPE_CHECKING:
    from streamforge.config import Settings

CHUNK = 256 * 1024

# Set on upload so a browser sent to a presigned or CDN URL gets the right type.
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
    ".json": "application/json",
    ".jpg": "image/jpeg",
}


def content_type(key: str) -> str:
    """The Content-Type stored with ``key``."""
    suffix = os.path.splitext(key)[1].lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


class S3Storage(S3Multipart, StorageBackend):
    """Objects in one bucket of an S3-compatible service, optionally under a prefix."""

    name = "s3"
    Config = S3Config

    def __init__(self, config: PluginConfig, *, settings: Settings) -> None:
        super().__init__(config, settings=settings)
        assert isinstance(config, S3Config)
        self.s3_config = config
        self.s3 = S3Client(config, settings)
        self._tmp = settings.data_dir / "tmp"
        self._bucket_ready = not config.create_bucket
        self._bucket_lock = asyncio.Lock()

    async def _ensure_bucket(self) -> None:
        """With ``create_bucket``, create the bucket before the first write."""
        if self._bucket_ready:
            return
        async with self._bucket_lock:
            if not self._bucket_ready:
                await self.check()

    async def put_file(self, key: str, path: Path) -> None:
        name = self.s3.object_name(key)
        await self._ensure_bucket()
        await self.s3.run(
            f"store {key}",
            self.s3.minio.fput_object,
            self.s3.bucket,
            name,
            str(path),
            content_type=content_type(key),
        )

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        self.s3.object_name(key)  # refuse a bad key before reading anything
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="s3-put-")
        except OSError as exc:
            raise StorageError(f"store {key}: cannot create a temporary file: {exc}") from exc
        tmp = Path(name)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                # the source stream's own errors propagate unchanged: nothing is uploaded
                async for chunk in chunks:
                    try:
                        await asyncio.to_thread(out.write, chunk)
                    except OSError as exc:
                        raise StorageError(f"store {key}: {exc}") from exc
                    written += len(chunk)
            await self.put_file(key, tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return written

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        name = self.s3.object_name(key)
        start = max(0, start)
        length = None if end is None else max(0, end - start)
        if length == 0:  # nothing to fetch, but a missing key is still an error
            if await self.stat(key) is None:
                raise ObjectNotFound(f"read {key}: no such object")
            return
        what = f"read {key}"
        try:
            response = await self.s3.run(
                what, self.s3.minio.get_object, self.s3.bucket, name, start, length or 0
            )
        except StorageError as exc:
            if s3_code(exc) == "InvalidRange":
                return  # start is at or past the end of the object
            raise
        try:
            while True:
                try:
                    data = await asyncio.to_thread(response.read, CHUNK)
                except CLIENT_ERRORS as exc:
                    raise self.s3.error(what, exc) from exc
                if not data:
                    break
                yield data
        finally:
            response.close()
            response.release_conn()

    async def stat(self, key: str) -> ObjectInfo | None:
        name = self.s3.object_name(key)
        try:
            obj = await self.s3.run(f"stat {key}", self.s3.minio.stat_object, self.s3.bucket, name)
        except ObjectNotFound:
            return None
        if obj.size is None or obj.last_modified is None:
            raise StorageError(f"stat {key}: the server gave no size or date")
        return ObjectInfo(
            key=key, size=obj.size, modified=obj.last_modified, etag=(obj.etag or "").strip('"')
        )

    async def delete(self, key: str) -> None:
        name = self.s3.object_name(key)
        with contextlib.suppress(ObjectNotFound):
            await self.s3.run(f"delete {key}", self.s3.minio.remove_object, self.s3.bucket, name)

    async def _names(self, prefix: str) -> list[str]:
        """Object names under a key prefix (not folder markers)."""
        object_prefix = self.s3.object_prefix(prefix)

        def names() -> list[str]:
            found = self.s3.minio.list_objects(self.s3.bucket, object_prefix, recursive=True)
            return [o.object_name for o in found if o.object_name and not o.is_dir]

        return await self.s3.run(f"list {prefix}", names)

    async def delete_prefix(self, prefix: str) -> int:
        names = await self._names(prefix)
        if not names:
            return 0

        def remove() -> list[str]:
            errors = self.s3.minio.remove_objects(
                self.s3.bucket, (DeleteObject(name) for name in names)
            )
            return [f"{e.name}: {e.code}" for e in errors]

        errors = await self.s3.run(f"delete {prefix}", remove)
        if errors:
            raise StorageError(
                f"delete {prefix}: {len(errors)} of {len(names)} objects were not deleted "
                f"(first: {errors[0]})"
            )
        return len(names)

    async def list(self, prefix: str) -> list[str]:
        return sorted(self.s3.key_of(name) for name in await self._names(prefix))

    async def download(self, key: str, path: Path) -> None:
        name = self.s3.object_name(key)
        await self.s3.run(
            f"download {key}", self.s3.minio.fget_object, self.s3.bucket, name, str(path)
        )

    def local_path(self, key: str) -> Path | None:
        self.s3.object_name(key)  # a bad key is an error here too, as on every backend
        return None

    async def url(
        self, key: str, *, expires: int | None = None, private: bool = False
    ) -> str | None:
        """The CDN URL of ``key`` when ``cdn_url`` is set (unless ``private``), else a
        presigned GET URL.

        ``expires`` defaults to ``[storage.s3] presign_expires``.
        """
        name = self.s3.object_name(key)
        if self.s3_config.cdn_url and not private:
            return f"{self.s3_config.cdn_url}/{quote(name)}"
        return await self.s3.run(
            f"sign {key}",
            self.s3.minio.presigned_get_object,
            self.s3.bucket,
            name,
            expires=self.s3.expires(expires),
        )

    async def check(self) -> None:
        where = f"S3 bucket {self.s3.bucket!r} at {self.s3_config.endpoint}"
        exists = await self.s3.run("storage check", self.s3.minio.bucket_exists, self.s3.bucket)
        if not exists and self.s3_config.create_bucket:
            try:
                await self.s3.run(
                    "create the bucket",
                    self.s3.minio.make_bucket,
                    self.s3.bucket,
                    self.s3_config.region,
                )
            except StorageError as exc:
                if s3_code(exc) != "BucketAlreadyOwnedByYou":  # another process won the race
                    raise
            exists = True
        if not exists:
            raise StorageError(
                f"{where} does not exist (create it, or set [storage.s3] create_bucket = true)"
            )
        self._bucket_ready = True

    async def close(self) -> None:
        self.s3.close()
