"""Built-in local-folder storage, registered through ``register_storage_backends``."""

from __future__ import annotations

from streamforge.hookspecs import hookimpl
from streamforge.storage import StorageBackend

from .backend import LocalConfig, LocalStorage

__all__ = ["LocalConfig", "LocalStorage"]


@hookimpl
def register_storage_backends() -> list[type[StorageBackend]]:
    return [LocalStorage]
