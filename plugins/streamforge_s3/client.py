"""The minio client behind the backend, and the one place its errors become ours."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from urllib3.util import Retry, Timeout

from streamforge.config import Settings
from streamforge.errors import ConfigError, ObjectNotFound, StorageError
from streamforge.storage import validate_key, validate_prefix

from .config import MAX_PRESIGN_SECONDS, S3Config

P = ParamSpec("P")
T = TypeVar("T")

#: S3 error codes that mean "there is no such object".
NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "ResourceNotFound"})
_AUTH = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})

#: Failures of the S3 client: its own, the HTTP layer's, local files', bad arguments.
CLIENT_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError)


def _credentials(config: S3Config, settings: Settings) -> tuple[str, str, str | None]:
    """Access key, secret key and session token: from the config, else from $AWS_*."""
    access = config.access_key or os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret = (
        config.secret_key.get_secret_value()
        if config.secret_key is not None
        else os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    )
    if not access or not secret:
        missing = " and ".join(
            name for name, value in (("access_key", access), ("secret_key", secret)) if not value
        )
        raise ConfigError(
            f"{settings.source}: [storage.s3] {missing}: not set (set it in the config file "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment)"
        )
    token = None
    if config.access_key is None and config.secret_key is None:
        token = os.environ.get("AWS_SESSION_TOKEN") or None
    return access, secret, token


def s3_code(exc: BaseException) -> str | None:
    """The S3 error code behind one of our errors (``raise … from`` an S3Error), if any."""
    cause = exc.__cause__
    return cause.code if isinstance(cause, S3Error) else None


class S3Client:
    """A minio client bound to one bucket and key prefix; every call runs in a thread."""

    def __init__(self, config: S3Config, settings: Settings) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        access, secret, token = _credentials(config, settings)
        # minio's default pool waits 5 minutes and retries 5 times; a storage that is down
        # should be reported in seconds
        self.http = urllib3.PoolManager(
            timeout=Timeout(connect=10, read=120),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        try:
            self.minio = Minio(
                config.host,
                access_key=access,
                secret_key=secret,
                session_token=token,
                secure=config.secure,
                region=config.region,
                http_client=self.http,
            )
        except ValueError as exc:
            raise ConfigError(f"{settings.source}: [storage.s3] endpoint: {exc}") from None

    def object_name(self, key: str) -> str:
        """The object name of ``key`` in the bucket; refuses unsafe keys before anything else."""
        return self.prefix + validate_key(key)

    def object_prefix(self, prefix: str) -> str:
        """The object-name prefix of a key prefix (which ends with "/")."""
        return self.prefix + validate_prefix(prefix)

    def key_of(self, object_name: str) -> str:
        """The storage key of an object name from a listing."""
        return object_name[len(self.prefix) :]

    async def run(self, what: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking client call in a thread; its failures become StorageError."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except CLIENT_ERRORS as exc:
            raise self.error(what, exc) from exc

    def expires(self, seconds: int | None) -> timedelta:
        """Lifetime of a presigned URL: ``seconds``, else ``presign_expires``; at most 7 days."""
        seconds = self.config.presign_expires if seconds is None else seconds
        return timedelta(seconds=min(max(1, seconds), MAX_PRESIGN_SECONDS))

    def error(self, what: str, exc: BaseException) -> StorageError:
        """Our error for a client failure while doing ``what``."""
        where = f"S3 bucket {self.bucket!r} at {self.config.endpoint}"
        if isinstance(exc, S3Error):
            if exc.code in NOT_FOUND:
                return ObjectNotFound(f"{what}: no such object")
            if exc.code == "NoSuchBucket":
                return StorageError(f"{what}: {where} does not exist")
            if exc.code == "NoSuchUpload":
                return StorageError(
                    f"{what}: no such multipart upload (aborted, completed or expired)"
                )
            if exc.code in _AUTH:
                return StorageError(
                    f"{what}: {where} refused the credentials ({exc.code}); "
                    "check [storage.s3] access_key, secret_key and region"
                )
            return StorageError(f"{what}: {where} answered {exc.code}: {exc.message}")
        if isinstance(exc, urllib3.exceptions.HTTPError):
            reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the cause
            return StorageError(f"{what}: cannot reach {where}: {reason}")
        return StorageError(f"{what}: {exc}")

    def close(self) -> None:
        """Drop pooled connections."""
        self.http.clear()
