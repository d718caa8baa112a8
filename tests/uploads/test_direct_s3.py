"""Direct-to-S3 multipart uploads through the API, against a real moto_server over HTTP.

moto does not verify presigned signatures or expiry, so these tests prove the flow and
the server's checks, not the signatures (see tests/s3server.py)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from streamforge.config import Settings
from streamforge.db.models import Job, UploadSession, Video, VideoStatus
from streamforge.library import direct_uploads
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.s3server import s3_env, unique_bucket

MB = 1024 * 1024


@pytest.fixture
def settings(tmp_path: Path, moto_url: str) -> Settings:
    return make_settings(tmp_path, **s3_env(moto_url, unique_bucket(), create_bucket="true"))


def put_part(url: str, data: bytes) -> str:
    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return str(response.headers["ETag"])


async def sign(client: Client, upload_id: str, numbers: list[int]) -> dict[int, str]:
    response = await client.post(
        f"/api/v1/uploads/s3/{upload_id}/sign", json={"part_numbers": numbers}
    )
    assert response.status_code == 200, await response.get_data()
    return {p["number"]: p["url"] for p in (await response.get_json())["parts"]}


def test_part_size_never_needs_more_than_10000_parts() -> None:
    assert direct_uploads.part_size_for(1 * MB) == 10 * MB
    assert direct_uploads.part_size_for(100_000 * MB) == 10 * MB
    size = 5 * 1024**4  # 5 TiB
    part = direct_uploads.part_size_for(size)
    assert part % MB == 0
    assert -(-size // part) <= 10_000


async def test_direct_upload_resume_and_complete(client: Client, rt: Runtime) -> None:
    data = os.urandom(12 * MB + 12345)  # two full 10 MB parts? no: 10 MB + remainder
    created = await client.post(
        "/api/v1/uploads/s3",
        json={
            "filename": "../../etc/holiday.mp4",
            "size": len(data),
            "content_type": "video/mp4",
        },
    )
    assert created.status_code == 201, await created.get_data()
    upload: dict[str, Any] = await created.get_json()
    assert upload["part_size"] == 10 * MB
    assert upload["part_count"] == 2
    urls = await sign(client, upload["id"], [1])
    put_part(urls[1], data[: 10 * MB])

    # a reload: the client asks what the storage already has, then sends the rest
    listed = await (await client.get(f"/api/v1/uploads/s3/{upload['id']}/parts")).get_json()
    assert [(p["number"], p["size"]) for p in listed["parts"]] == [(1, 10 * MB)]
    early = await client.post(f"/api/v1/uploads/s3/{upload['id']}/complete")
    assert early.status_code == 400
    assert (await early.get_json())["error"]["message"] == (
        "expected 2 parts, the storage has 1; missing: [2]"
    )
    put_part((await sign(client, upload["id"], [2]))[2], data[10 * MB :])

    done = await client.post(f"/api/v1/uploads/s3/{upload['id']}/complete")
    assert done.status_code == 200, await done.get_data()
    video_id = (await done.get_json())["video_id"]
    async with rt.db.session() as s:
        video = await s.get(Video, video_id)
        assert video is not None
        assert video.status == VideoStatus.QUEUED
        assert video.source_key == f"videos/{video_id}/source/holiday.mp4"  # never a path
        jobs = (await s.execute(select(Job).where(Job.video_id == video_id))).scalars().all()
        assert len(jobs) == 1
    stored = b"".join([c async for c in rt.storage.read(f"videos/{video_id}/source/holiday.mp4")])
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    again = await client.post(f"/api/v1/uploads/s3/{upload['id']}/complete")
    assert again.status_code == 400


async def test_wrong_total_size_is_refused(client: Client) -> None:
    created = await (
        await client.post("/api/v1/uploads/s3", json={"filename": "a.mp4", "size": 6 * MB})
    ).get_json()
    urls = await sign(client, created["id"], [1])
    put_part(urls[1], os.urandom(6 * MB - 1))  # one byte short
    response = await client.post(f"/api/v1/uploads/s3/{created['id']}/complete")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["message"] == (
        f"the parts add up to {6 * MB - 1} bytes, the upload declared {6 * MB}"
        "; parts of the wrong size: [1]"
    )


async def test_a_file_over_the_size_limit_is_413_like_tus(client: Client, rt: Runtime) -> None:
    limit = rt.settings.uploads.max_size
    response = await client.post(
        "/api/v1/uploads/s3", json={"filename": "huge.mp4", "size": limit + 1}
    )
    assert response.status_code == 413
    error = (await response.get_json())["error"]
    assert error["code"] == "upload_too_large"
    assert error["message"] == (
        f"the file is {limit + 1} bytes; this server accepts at most {limit}"
    )
    async with rt.db.read() as s:
        assert (await s.scalars(select(UploadSession))).all() == []


async def test_sign_validates_part_numbers(client: Client) -> None:
    created = await (
        await client.post("/api/v1/uploads/s3", json={"filename": "a.mp4", "size": 3 * MB})
    ).get_json()
    response = await client.post(
        f"/api/v1/uploads/s3/{created['id']}/sign", json={"part_numbers": [2]}
    )
    assert response.status_code == 400
    assert "part numbers must be between 1 and 1" in (await response.get_json())["error"]["message"]


async def test_abort_and_purge(client: Client, rt: Runtime) -> None:
    created = await (
        await client.post("/api/v1/uploads/s3", json={"filename": "a.mp4", "size": 3 * MB})
    ).get_json()
    assert (await client.delete(f"/api/v1/uploads/s3/{created['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/uploads/s3/{created['id']}/parts")).status_code == 404

    stale = await (
        await client.post("/api/v1/uploads/s3", json={"filename": "b.mp4", "size": 3 * MB})
    ).get_json()
    async with rt.db.session() as s:
        row = await s.get(UploadSession, stale["id"])
        assert row is not None
        row.expires_at = row.created_at  # long ago
    assert await direct_uploads.purge_expired(rt.db, rt.storage) == 1
    async with rt.db.session() as s:
        assert await s.get(UploadSession, stale["id"]) is None


async def test_local_storage_says_to_use_tus(tmp_path: Path) -> None:
    from streamforge.app import create_app

    app = create_app(make_settings(tmp_path), run_jobs=False)
    async with app.test_app():
        _, token = await make_account(app.extensions["streamforge"].runtime.db)
        response = await bearer_client(app, token).post(
            "/api/v1/uploads/s3", json={"filename": "a.mp4", "size": 10}
        )
        assert response.status_code == 400
        assert (await response.get_json())["error"]["message"] == (
            "direct uploads need a storage backend with multipart support (this server uses "
            "'local'); upload with tus at /api/v1/uploads instead"
        )
