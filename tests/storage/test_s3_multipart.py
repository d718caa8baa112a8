"""Direct multipart uploads over HTTP against a real S3-compatible server (moto).

What moto does NOT verify, so these tests cannot either (a real MinIO or AWS run is needed):
- signatures and expiry of presigned URLs: moto accepts tampered and expired ones, so that
  a part URL is bound to its upload id, part number and lifetime is untested here;
- credentials at all: any access key and secret work;
- a PUT without a Content-Type stores 0 bytes in moto, so every PUT below sets one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import urllib.request

import pytest

from streamforge.errors import InvalidKey, ObjectNotFound, StorageError
from streamforge.storage import MultipartStorage, StorageBackend, UploadedPart

from .conftest import collect

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part (except the last)


def _put(url: str, data: bytes) -> str:
    """PUT one part the way a browser would; return its ETag."""
    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        etag: str = response.headers["ETag"]
        return etag.strip('"')


def _get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers.get("Content-Type", "")


async def upload_part(
    storage: MultipartStorage, key: str, upload_id: str, number: int, data: bytes
) -> str:
    url = await storage.presign_part(key, upload_id, number)
    return await asyncio.to_thread(_put, url, data)


@pytest.fixture
def multipart(s3_storage: StorageBackend) -> MultipartStorage:
    assert isinstance(s3_storage, MultipartStorage)
    return s3_storage


async def test_multipart_upload_with_resume(
    multipart: MultipartStorage, s3_storage: StorageBackend
) -> None:
    key = "videos/mp/source/clip.mp4"
    source = os.urandom(2 * PART + 123_457)
    chunks = [source[:PART], source[PART : 2 * PART], source[2 * PART :]]
    upload_id = await multipart.create_multipart(key, "video/mp4")
    assert upload_id

    etag1 = await upload_part(multipart, key, upload_id, 1, chunks[0])
    # the client went away; on resume it asks what the server already has
    parts = await multipart.list_parts(key, upload_id)
    assert parts == [UploadedPart(number=1, size=PART, etag=etag1)]
    for number in (2, 3):
        await upload_part(multipart, key, upload_id, number, chunks[number - 1])
    parts = await multipart.list_parts(key, upload_id)
    assert [(p.number, p.size) for p in parts] == [(1, PART), (2, PART), (3, len(chunks[2]))]
    assert not await s3_storage.exists(key)  # nothing is visible before completion

    await multipart.complete_multipart(key, upload_id, parts)
    got = await collect(s3_storage.read(key))
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(source).hexdigest()
    info = await s3_storage.stat(key)
    assert info is not None
    assert info.size == len(source)
    url = await s3_storage.url(key)
    assert url is not None
    _, content_type = await asyncio.to_thread(_get, url)
    assert content_type == "video/mp4"
    with pytest.raises(StorageError):  # the upload is gone once completed
        await multipart.list_parts(key, upload_id)


async def test_complete_checks_the_parts(
    multipart: MultipartStorage, s3_storage: StorageBackend
) -> None:
    key = "videos/mp/source/checked.bin"
    upload_id = await multipart.create_multipart(key, "application/octet-stream")
    etag = await upload_part(multipart, key, upload_id, 1, b"only part")
    with pytest.raises(StorageError, match="part 1 was not uploaded or has changed"):
        await multipart.complete_multipart(key, upload_id, [UploadedPart(1, 9, "0" * 32)])
    with pytest.raises(StorageError, match="part 2 was not uploaded"):
        await multipart.complete_multipart(
            key, upload_id, [UploadedPart(1, 9, etag), UploadedPart(2, 1, etag)]
        )
    with pytest.raises(StorageError, match="unique and in order"):
        await multipart.complete_multipart(key, upload_id, [])
    assert not await s3_storage.exists(key)
    await multipart.complete_multipart(key, upload_id, [UploadedPart(1, 9, etag)])
    assert await collect(s3_storage.read(key)) == b"only part"


async def test_abort(multipart: MultipartStorage, s3_storage: StorageBackend) -> None:
    key = "videos/mp/source/aborted.bin"
    upload_id = await multipart.create_multipart(key, "video/mp4")
    etag = await upload_part(multipart, key, upload_id, 1, b"abandoned")
    await multipart.abort_multipart(key, upload_id)
    await multipart.abort_multipart(key, upload_id)  # twice is not an error
    with pytest.raises(StorageError, match="no such multipart upload"):
        await multipart.list_parts(key, upload_id)
    with pytest.raises(StorageError, match="no such multipart upload") as caught:
        await multipart.complete_multipart(key, upload_id, [UploadedPart(1, 9, etag)])
    assert not isinstance(caught.value, ObjectNotFound)
    assert not await s3_storage.exists(key)


async def test_refused_before_any_request(multipart: MultipartStorage) -> None:
    with pytest.raises(InvalidKey):
        await multipart.create_multipart("../escape", "video/mp4")
    with pytest.raises(InvalidKey):
        await multipart.presign_part("videos//x", "upload", 1)
    with pytest.raises(InvalidKey):
        await multipart.list_parts("/abs", "upload")
    with pytest.raises(InvalidKey):
        await multipart.complete_multipart("a/../b", "upload", [UploadedPart(1, 1, "e")])
    with pytest.raises(InvalidKey):
        await multipart.abort_multipart("a\\b", "upload")
    for number in (0, 10_001):
        with pytest.raises(StorageError, match="part number"):
            await multipart.presign_part("videos/x/source/a.mp4", "upload", number)
    with pytest.raises(StorageError, match="invalid content type"):
        await multipart.create_multipart("videos/x/source/a.mp4", "video/mp4\r\nX-Evil: 1")
