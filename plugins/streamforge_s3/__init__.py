"""S3-compatible storage (AWS S3, MinIO, Cloudflare R2, …), registered through
``register_storage_backends`` like every other storage plugin.

Select it with ``[storage] backend = "s3"`` and configure ``[storage.s3]``
(see :class:`S3Config`).
"""

from __future__ import annotations

from streamforge.hookspecs import hookimpl
from streamforge.storage import StorageBackend

from .backend import S3Storage
from .config import S3Config

__all__ = ["S3Config", "S3Storage"]


@hookimpl
def register_storage_backends() -> list[type[StorageBackend]]:
    return [S3Storage]
