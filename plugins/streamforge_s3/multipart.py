"""Direct multipart uploads: clients PUT parts to presigned URLs, the server completes.

minio-py exposes these S3 calls only as private methods (``_create_multipart_upload``,
``_list_parts``, ``_complete_multipart_upload``, ``_abort_multipart_upload``); they are
wrapped here, in one place, so a minio release that renames them breaks one module.
"""

from __future__ import annotations

import re
from abc import abstractmethod

from minio.datatypes import Part

from streamforge.errors import StorageError
from streamforge.storage import MultipartStorage, UploadedPart

from .client import S3Client, s3_code

MAX_PARTS = 10_000
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(; ?[\w.+-]+=[\w.+-]+)*$")


class S3Multipart(MultipartStorage):
    """MultipartStorage over S3's CreateMultipartUpload/UploadPart/CompleteMultipartUpload."""

    s3: S3Client

    @abstractmethod
    async def _ensure_bucket(self) -> None:
        """Make sure the bucket exists before writing (see ``create_bucket``)."""

    async def create_multipart(self, key: str, content_type: str) -> str:
        name = self.s3.object_name(key)
        content_type = content_type or "application/octet-stream"
        if not _CONTENT_TYPE.match(content_type):
            raise StorageError(f"start upload of {key}: invalid content type {content_type!r}")
        await self._ensure_bucket()
        upload_id: str = await self.s3.run(
            f"start upload of {key}",
            self.s3.minio._create_multipart_upload,
            self.s3.bucket,
            name,
            {"Content-Type": content_type},
        )
        return upload_id

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires: int | None = None
    ) -> str:
        """A presigned PUT URL for one part; ``expires`` defaults to ``presign_expires``."""
        name = self.s3.object_name(key)
        if not 1 <= part_number <= MAX_PARTS:
            raise StorageError(f"sign part of {key}: part number must be 1-{MAX_PARTS}")
        url: str = await self.s3.run(
            f"sign part {part_number} of {key}",
            self.s3.minio.get_presigned_url,
            "PUT",
            self.s3.bucket,
            name,
            expires=self.s3.expires(expires),
            extra_query_params={"partNumber": str(part_number), "uploadId": upload_id},
        )
        return url

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        name = self.s3.object_name(key)

        def fetch() -> list[UploadedPart]:
            parts: list[UploadedPart] = []
            marker: str | None = None
            while True:
                page = self.s3.minio._list_parts(
                    self.s3.bucket, name, upload_id, part_number_marker=marker
                )
                parts += [
                    UploadedPart(number=p.part_number, size=p.size or 0, etag=p.etag)
                    for p in page.parts
                ]
                if not page.is_truncated or not page.next_part_number_marker:
                    return sorted(parts, key=lambda p: p.number)
                marker = page.next_part_number_marker

        return await self.s3.run(f"list parts of {key}", fetch)

    async def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        """Assemble ``parts``, after checking each one is stored with the same ETag."""
        name = self.s3.object_name(key)
        numbers = [p.number for p in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise StorageError(f"complete {key}: parts must be non-empty, unique and in order")
        stored = {p.number: p for p in await self.list_parts(key, upload_id)}
        for part in parts:
            have = stored.get(part.number)
            if have is None or have.etag.strip('"') != part.etag.strip('"'):
                raise StorageError(
                    f"complete {key}: part {part.number} was not uploaded or has changed"
                )
        await self.s3.run(
            f"complete {key}",
            self.s3.minio._complete_multipart_upload,
            self.s3.bucket,
            name,
            upload_id,
            [Part(p.number, p.etag.strip('"')) for p in parts],
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        name = self.s3.object_name(key)
        try:
            await self.s3.run(
                f"abort upload of {key}",
                self.s3.minio._abort_multipart_upload,
                self.s3.bucket,
                name,
                upload_id,
            )
        except StorageError as exc:
            if s3_code(exc) != "NoSuchUpload":  # aborted (or completed) already
                raise
