"""The storage plugin API.

A storage plugin returns ``StorageBackend`` subclasses from ``register_storage_backends``;
``[storage] backend`` picks one by ``name`` and its table ``[storage.<name>]`` is validated
against the class's ``Config``. Keys are "/"-separated relative names such as
``videos/<id>/hls/720p/seg_00001.m4s``; :func:`validate_key` refuses anything else, and
backends must call it on every key they receive.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from streamforge.config import PluginConfig
from streamforge.errors import InvalidKey

if TYPE_CHECKING:
    from streamforge.config import Settings

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative storage key, else raise InvalidKey.

    Safe means: non-empty "/"-separated segments of letters, digits, ``.``, ``_`` and ``-``,
    none starting with a dot (so no ``..``), no backslash, NUL, or leading slash.
    """
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise InvalidKey(f"invalid storage key {key!r}")
    for part in key.split("/"):
        if not _SEGMENT.fullmatch(part):  # (match() let a trailing newline through)
            raise InvalidKey(f"invalid storage key {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, for a prefix that ends with "/"."""
    if not prefix.endswith("/"):
        raise InvalidKey(f"a prefix must end with '/': {prefix!r}")
    validate_key(prefix[:-1])
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of a stored object."""

    key: str
    size: int
    modified: datetime
    etag: str


class StorageBackend(ABC):
    """Base class of storage backends. Every method is a coroutine unless noted."""

    name: ClassVar[str]
    Config: ClassVar[type[PluginConfig]] = PluginConfig

    def __init__(self, config: PluginConfig, *, settings: Settings) -> None:
        self.config = config
        self.settings = settings

    @abstractmethod
    async def put_file(self, key: str, path: Path) -> None:
        """Store a local file under ``key``, atomically (readers never see a partial object)."""

    @abstractmethod
    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store an async stream of bytes under ``key`` atomically; return the bytes written."""

    async def move_file(self, key: str, path: Path) -> None:
        """Store a local file under ``key`` and remove ``path`` (a finished upload).

        The default copies then deletes; backends on the same disk rename instead.
        """
        await self.put_file(key, path)
        path.unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""

        async def one() -> AsyncIterator[bytes]:
            yield data

        await self.put_stream(key, one())

    @abstractmethod
    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield the bytes of ``key`` from ``start`` up to ``end`` (exclusive; None = EOF).

        Raises ObjectNotFound when the key does not exist.
        """

    @abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None:
        """Metadata of ``key``, or None when it does not exist."""

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return await self.stat(key) is not None

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    @abstractmethod
    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (which ends with "/"); return the count."""

    @abstractmethod
    async def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (ending with "/"), sorted."""

    async def download(self, key: str, path: Path) -> None:
        """Copy ``key`` to the local file ``path`` (used by workers on remote storage)."""
        with path.open("wb") as out:
            async for chunk in self.read(key):
                out.write(chunk)

    def local_path(self, key: str) -> Path | None:
        """The file holding ``key`` when the backend keeps objects on a local disk, else None.

        Not a coroutine. Lets the server and the worker skip copies.
        """
        return None

    async def url(self, key: str, *, expires: int = 3600, private: bool = False) -> str | None:
        """A URL clients can fetch ``key`` from directly (public or presigned), or None.

        ``private``: the object is of a video not everyone may watch, so the URL must stop
        working after ``expires`` seconds: never a CDN or other lasting public URL (return a
        presigned one, or None to have StreamForge send the bytes itself).
        """
        return None

    async def close(self) -> None:
        """Release connections. Called once at shutdown."""
        return None

    async def check(self) -> None:
        """Raise StorageError when the backend cannot store objects now.

        Called by ``streamforge doctor`` and by the readiness probe ``GET /api/v1/ready``
        (at most about once a second, cut off after a few seconds), so keep it cheap: one
        small write or one request to the service. The message goes to the log, not to the
        probe's anonymous caller, and may name paths and buckets.
        """
        return None


@dataclass(frozen=True)
class UploadedPart:
    """One part of a multipart upload, as the storage service recorded it."""

    number: int  # 1-based
    size: int
    etag: str


class MultipartStorage(ABC):
    """Mixin for backends that let clients upload straight to them in parts (S3-style).

    The server creates the upload, signs part URLs for the client, and completes it after
    checking the parts; no byte passes through the server.
    """

    @abstractmethod
    async def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload for ``key``; return its upload id."""

    @abstractmethod
    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires: int = 3600
    ) -> str:
        """A URL the client PUTs part ``part_number`` (1-based) to."""

    @abstractmethod
    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts received so far, by number."""

    @abstractmethod
    async def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        """Assemble ``parts`` into the object ``key``."""

    @abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abandon the upload and free its parts; aborting twice is not an error."""
