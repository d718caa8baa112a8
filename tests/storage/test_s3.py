"""What only the S3 backend does: URLs, key prefix, bucket checks, credentials."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from minio import Minio

from streamforge.errors import ConfigError, StorageError
from streamforge.storage import StorageBackend
from tests.conftest import make_settings

from .conftest import build_storage, collect, opened, s3_env, unique_bucket


def _get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers.get("Content-Type", "")


def raw_client(endpoint: str) -> Minio:
    return Minio(urlsplit(endpoint).netloc, "testing", "testing-secret", secure=False)


async def test_presigned_get_downloads_the_object(s3_storage: StorageBackend) -> None:
    # moto does not check the signature or the expiry of the URL: only that it works
    data = b"#EXTM3U\n#EXT-X-VERSION:7\n"
    await s3_storage.put_bytes("videos/u/hls/master.m3u8", data)
    url = await s3_storage.url("videos/u/hls/master.m3u8", expires=60)
    assert url is not None
    assert "X-Amz-Expires=60" in url
    body, content_type = await asyncio.to_thread(_get, url)
    assert body == data
    assert content_type == "application/vnd.apple.mpegurl"
    default = await s3_storage.url("videos/u/hls/master.m3u8")
    assert default is not None
    assert "X-Amz-Expires=3600" in default
    assert s3_storage.local_path("videos/u/hls/master.m3u8") is None


async def test_prefix_and_cdn_url(moto_url: str, tmp_path: Path) -> None:
    bucket = unique_bucket()
    env = s3_env(
        moto_url,
        bucket,
        prefix="/site-a/",
        cdn_url="https://cdn.example.org/",
        create_bucket="true",
    )
    async with opened(make_settings(tmp_path, **env)) as storage:
        await storage.put_bytes("videos/p/poster.jpg", b"jpeg")
        assert await storage.list("videos/") == ["videos/p/poster.jpg"]
        assert await storage.url("videos/p/poster.jpg") == (
            "https://cdn.example.org/site-a/videos/p/poster.jpg"
        )
        names = [o.object_name for o in raw_client(moto_url).list_objects(bucket, recursive=True)]
        assert names == ["site-a/videos/p/poster.jpg"]
        assert await storage.delete_prefix("videos/") == 1


async def test_missing_bucket_is_a_clear_error(moto_url: str, tmp_path: Path) -> None:
    bucket = unique_bucket()
    storage = build_storage(make_settings(tmp_path, **s3_env(moto_url, bucket)))
    try:
        with pytest.raises(StorageError) as caught:
            await storage.check()
        message = str(caught.value)
        assert bucket in message
        assert moto_url in message
        assert "create_bucket" in message
        with pytest.raises(StorageError, match="does not exist"):
            await storage.put_bytes("videos/x/a.bin", b"x")
    finally:
        await storage.close()


async def test_create_bucket_on_first_write(moto_url: str, tmp_path: Path) -> None:
    bucket = unique_bucket()
    settings = make_settings(tmp_path, **s3_env(moto_url, bucket, create_bucket="true"))
    storage = build_storage(settings)
    try:
        await storage.put_bytes("videos/x/a.bin", b"x")  # no check() first
        assert raw_client(moto_url).bucket_exists(bucket)
    finally:
        await storage.close()


async def test_unreachable_endpoint_names_it(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    storage = build_storage(make_settings(tmp_path, **s3_env(endpoint, "some-bucket")))
    try:
        with pytest.raises(StorageError) as caught:
            await storage.check()
        assert "cannot reach" in str(caught.value)
        assert endpoint in str(caught.value)
        assert "some-bucket" in str(caught.value)
        with pytest.raises(StorageError):
            await collect(storage.read("videos/x/a.bin"))
    finally:
        await storage.close()


async def test_credentials_from_the_environment(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    env = s3_env(moto_url, unique_bucket(), create_bucket="true")
    del env["STREAMFORGE_STORAGE__S3__ACCESS_KEY"], env["STREAMFORGE_STORAGE__S3__SECRET_KEY"]
    async with opened(make_settings(tmp_path, **env)) as storage:
        await storage.put_bytes("videos/c/a.bin", b"ok")
        assert await collect(storage.read("videos/c/a.bin")) == b"ok"


def test_missing_credentials_are_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    env = s3_env("http://127.0.0.1:9", "some-bucket")
    del env["STREAMFORGE_STORAGE__S3__SECRET_KEY"]
    with pytest.raises(ConfigError) as caught:
        build_storage(make_settings(tmp_path, **env))
    message = str(caught.value)
    assert message == (
        "environment: [storage.s3] secret_key: not set (set it in the config file "
        "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment)"
    )
