"""Every error StreamForge raises on purpose. One hierarchy, one line of doc each.

Library exceptions (SQLAlchemy, minio, PyAV, OS errors) are translated into these at the
boundary where they happen (``raise StorageError(...) from exc``), so callers and the API
only ever deal with this family.
"""

from __future__ import annotations


class StreamForgeError(Exception):
    """Base of every error StreamForge raises deliberately."""


class ConfigError(StreamForgeError):
    """The configuration file or an environment override is invalid."""


class PluginError(StreamForgeError):
    """A plugin failed to load, registered something invalid, or misbehaved."""


class StorageError(StreamForgeError):
    """A storage backend could not read, write or list an object."""


class ObjectNotFound(StorageError):
    """The requested storage key does not exist."""


class InvalidKey(StorageError):
    """A storage key is malformed or would escape the storage root."""


class EncoderError(StreamForgeError):
    """An encoder could not be opened or failed while encoding."""


class MediaError(StreamForgeError):
    """A media file is unreadable, refused, or failed to transcode. The message is for people."""


class MediaRefused(MediaError):
    """A media file was refused before decoding (format not allowed, over a limit)."""


class ChildFailed(MediaError):
    """The media child process ended without a result (crash, limit); ``stderr`` has its tail."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class NotifierError(StreamForgeError):
    """A notifier could not deliver an event; the delivery is retried with backoff."""


class DeliveryRefused(NotifierError):
    """A delivery that retrying cannot fix (refused target, rejected request); not retried."""


class JobError(StreamForgeError):
    """A background job could not be queued, claimed or completed."""


class NotFound(StreamForgeError):
    """A requested record (video, job, upload) does not exist."""


class InvalidRequest(StreamForgeError):
    """A request was well-formed but asked for something impossible."""


class AuthenticationFailed(StreamForgeError):
    """Credentials (password, API token, session) were wrong, expired or revoked."""


class Forbidden(StreamForgeError):
    """The requester is known (or anonymous) and not allowed to do this."""


class FileTooLarge(InvalidRequest):
    """A file is larger than this server accepts (``[uploads] max_size``; HTTP 413)."""


class QuotaExceeded(StreamForgeError):
    """An upload would take its account past its upload quota (HTTP 413)."""

    def __init__(self, message: str, *, used: int, quota: int, requested: int) -> None:
        super().__init__(message)
        self.used = used
        self.quota = quota
        self.requested = requested
