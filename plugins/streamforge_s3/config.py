"""``[storage.s3]``: where the bucket is and how to reach it."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator

from streamforge.config import PluginConfig
from streamforge.errors import InvalidKey
from streamforge.storage import validate_key

#: Presigned URLs live at most 7 days (the SigV4 limit).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _credential(value: object) -> object:
    # "" means "not set" (fall back to the environment). A numeric value read from TOML or
    # an env override becomes text, so an error message never has to echo a secret back.
    if value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Credential = Annotated[str | None, BeforeValidator(_credential)]
SecretCredential = Annotated[SecretStr | None, BeforeValidator(_credential)]


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL of {what}")
    return value.rstrip("/")


class S3Config(PluginConfig):
    """``[storage.s3]``."""

    #: Base URL of the S3 API, e.g. "http://127.0.0.1:9000" or "https://s3.amazonaws.com".
    endpoint: str
    #: Bucket holding every object.
    bucket: str
    #: Region the bucket lives in (signatures depend on it).
    region: str = "us-east-1"
    #: Access key id; empty: $AWS_ACCESS_KEY_ID.
    access_key: Credential = None
    #: Secret key; empty: $AWS_SECRET_ACCESS_KEY. Never printed.
    secret_key: SecretCredential = None
    #: Folder inside the bucket every key is stored under, e.g. "streamforge"; "" for none.
    prefix: str = ""
    #: Public base URL serving the bucket's root (a CDN); empty: presigned URLs instead.
    cdn_url: str = ""
    #: Default lifetime of presigned URLs, seconds.
    presign_expires: int = Field(3600, ge=1, le=MAX_PRESIGN_SECONDS)
    #: Create the bucket when it does not exist yet.
    create_bucket: bool = False

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = _http_url(value, "the S3 API (e.g. http://127.0.0.1:9000)")
        parts = urlsplit(value)
        if parts.path or parts.query or parts.fragment or parts.username:
            raise ValueError("must be scheme://host[:port] only; put the bucket in `bucket`")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError("must be an S3 bucket name: 3-63 lowercase letters, digits, . or -")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9-]{1,40}", value):
            raise ValueError('must be a region name such as "us-east-1"')
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value:
            return ""
        try:
            validate_key(value)
        except InvalidKey:
            raise ValueError(
                "must be a /-separated path of letters, digits, '.', '_' and '-'"
            ) from None
        return value + "/"

    @field_validator("cdn_url")
    @classmethod
    def _cdn(cls, value: str) -> str:
        return _http_url(value, "the CDN") if value else ""

    @property
    def secure(self) -> bool:
        """Whether the endpoint speaks HTTPS."""
        return self.endpoint.startswith("https://")

    @property
    def host(self) -> str:
        """``host[:port]`` of the endpoint, as the minio client wants it."""
        return urlsplit(self.endpoint).netloc
