"""The tus protocol through the app's own test client, on a real SQLite file and real disk."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from quart import request
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select, update

from streamforge.config import Settings
from streamforge.db.models import Job, JobState, Privacy, UploadSession, Video, VideoStatus
from streamforge.library import uploads
from streamforge.runtime import Runtime
from streamforge.web import access as web_access
from streamforge.web.uploads import writers_of
from tests.uploads.helpers import (
    OFFSET_STREAM,
    PREFIX,
    TUS,
    app_with,
    checksum,
    create,
    error_of,
    head,
    metadata,
    part_of,
    patch,
)


def upload_id(path: str) -> str:
    return path.rsplit("/", 1)[1]


async def row(rt: Runtime, path: str) -> UploadSession | None:
    async with rt.db.session() as s:
        return await s.get(UploadSession, upload_id(path))


async def test_options_advertises_the_server_without_tus_resumable(client: Client) -> None:
    response = await client.options(PREFIX)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Extension"] == (
        "creation,creation-with-upload,termination,checksum,expiration"
    )
    assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256,md5"
    assert response.headers["Tus-Max-Size"] == str(50 * 1024**3)


async def test_create_answers_location_offset_and_expiry(client: Client, rt: Runtime) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        PREFIX,
        headers={**TUS, "Upload-Length": "100", "Upload-Metadata": metadata(filename="a.mp4")},
    )
    assert response.status_code == 201
    location = response.headers["Location"]
    assert location.startswith(f"{PREFIX}/")  # host-relative without public_url
    assert response.headers["Upload-Offset"] == "0"
    expires = parsedate_to_datetime(response.headers["Upload-Expires"])
    assert response.headers["Upload-Expires"].endswith(" GMT")
    assert timedelta(hours=23.9) < expires - before < timedelta(hours=24.1)
    record = await row(rt, location)
    assert record is not None
    assert (record.kind, record.length, record.offset) == ("tus", 100, 0)


async def test_location_ignores_a_forged_host_and_uses_public_url(tmp_path: Path) -> None:
    env = {"STREAMFORGE_SERVER__PUBLIC_URL": "https://video.example.org/"}
    async with app_with(tmp_path, **env) as (_, client):
        response = await client.post(
            PREFIX,
            headers={**TUS, "Upload-Length": "10", "Host": "evil.example", "X-Forwarded-Host": "x"},
        )
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://video.example.org/api/v1/uploads/")


async def test_forged_host_without_public_url_stays_host_relative(client: Client) -> None:
    response = await client.post(
        PREFIX, headers={**TUS, "Upload-Length": "10", "Host": "evil.example"}
    )
    assert response.headers["Location"].startswith("/api/v1/uploads/")
    assert "evil" not in response.headers["Location"]


async def test_missing_tus_resumable_is_412(client: Client) -> None:
    response = await client.post(PREFIX, headers={"Upload-Length": "10"})
    assert response.status_code == 412
    assert response.headers["Tus-Version"] == "1.0.0"
    error = await error_of(response)
    assert error["code"] == "unsupported_tus_version"
    assert "Tus-Resumable must be 1.0.0" in error["message"]


@pytest.mark.parametrize(
    ("length", "status", "words"),
    [
        (None, 400, "the Upload-Length header is required"),
        ("-5", 400, "Upload-Length must be a non-negative integer"),
        ("ten", 400, "Upload-Length must be a non-negative integer"),
        ("0", 400, "at least 1"),
        (str(50 * 1024**3 + 1), 413, "larger than this server's limit of 53687091200 bytes"),
    ],
)
async def test_bad_upload_length(
    client: Client, length: str | None, status: int, words: str
) -> None:
    headers = dict(TUS)
    if length is not None:
        headers["Upload-Length"] = length
    response = await client.post(PREFIX, headers=headers)
    assert response.status_code == status
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert words in (await error_of(response))["message"]


async def test_max_size_comes_from_config(tmp_path: Path) -> None:
    async with app_with(tmp_path, STREAMFORGE_UPLOADS__MAX_SIZE="1000") as (_, client):
        options = await client.options(PREFIX)
        too_big = await client.post(PREFIX, headers={**TUS, "Upload-Length": "1001"})
        fits = await client.post(PREFIX, headers={**TUS, "Upload-Length": "1000"})
    assert options.headers["Tus-Max-Size"] == "1000"
    assert too_big.status_code == 413
    assert fits.status_code == 201


async def test_metadata_allowlist_and_limits(client: Client, rt: Runtime) -> None:
    meta = metadata(filename="../../etc/passwd", title="My  holiday", relativePath="/x/y", name="n")
    response = await client.post(
        PREFIX, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": meta + ",flag"}
    )
    assert response.status_code == 201
    record = await row(rt, response.headers["Location"])
    assert record is not None
    assert record.meta == {"filename": "../../etc/passwd", "title": "My holiday"}
    assert record.storage_key is not None
    assert record.storage_key.endswith("/source/passwd")  # never used as a path

    for bad, words in [
        ("filename !!!", "not base64-encoded UTF-8"),
        (metadata(title="x" * 201), "title is longer than 200 characters"),
        (metadata(privacy="secret"), "privacy must be one of public, unlisted, private"),
        (metadata(filename="a\nb.mp4"), "filename contains control characters"),
        (f"{metadata(title='a')},{metadata(title='b')}", "repeated key"),
    ]:
        response = await client.post(
            PREFIX, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": bad}
        )
        assert response.status_code == 400, bad
        assert words in (await error_of(response))["message"]


async def test_whole_upload_creates_video_and_job(client: Client, rt: Runtime) -> None:
    data = os.urandom(300_000)
    meta = metadata(
        filename="Summer Trip.MP4", description="sea", privacy="unlisted", filetype="video/mp4"
    )
    path = await create(client, len(data), **{"Upload-Metadata": meta})
    first = await patch(client, path, 0, data[:100_000])
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "100000"
    assert "StreamForge-Video-Id" not in first.headers
    last = await patch(client, path, 100_000, data[100_000:])
    assert last.status_code == 204, await last.get_data()
    assert last.headers["Upload-Offset"] == str(len(data))
    video_id = last.headers["StreamForge-Video-Id"]

    async with rt.db.session() as s:
        video = await s.get(Video, video_id)
        assert video is not None
        jobs = (await s.execute(select(Job).where(Job.video_id == video_id))).scalars().all()
    assert video.status == VideoStatus.QUEUED
    assert video.title == "Summer Trip"
    assert video.description == "sea"
    assert video.privacy == Privacy.UNLISTED
    assert video.source_key == f"videos/{video_id}/source/Summer_Trip.MP4"
    assert video.source_size == len(data)
    assert [j.state for j in jobs] == [JobState.QUEUED]
    assert jobs[0].enqueued_at is not None  # handed to the app's job host
    stored = rt.storage.local_path(video.source_key)
    assert stored is not None
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not part_of(rt.settings, path).exists()

    status = await client.get(path)
    assert status.status_code == 200
    body = await status.get_json()
    assert body == {
        "id": upload_id(path),
        "offset": len(data),
        "length": len(data),
        "complete": True,
        "video_id": video_id,
        "expires_at": body["expires_at"],
        "filename": "Summer Trip.MP4",
    }
    done = await head(client, path)
    assert done.headers["Upload-Offset"] == str(len(data))
    assert "Upload-Expires" not in done.headers
    again = await patch(client, path, len(data), b"")  # an empty PATCH at the end is harmless
    assert again.status_code == 204


async def test_creation_with_upload(client: Client, rt: Runtime) -> None:
    data = os.urandom(5000)
    response = await client.post(
        PREFIX,
        headers={**OFFSET_STREAM, "Upload-Length": str(len(data))},
        data=data[:2000],
    )
    assert response.status_code == 201
    assert response.headers["Upload-Offset"] == "2000"
    path = response.headers["Location"]
    assert part_of(rt.settings, path).read_bytes() == data[:2000]
    done = await patch(client, path, 2000, data[2000:])
    assert done.headers["StreamForge-Video-Id"]

    whole = await client.post(
        PREFIX, headers={**OFFSET_STREAM, "Upload-Length": str(len(data))}, data=data
    )
    assert whole.status_code == 201
    assert whole.headers["Upload-Offset"] == str(len(data))
    assert whole.headers["StreamForge-Video-Id"]


@pytest.mark.parametrize("declared", [True, False])
async def test_creation_with_too_much_data_is_413_and_creates_nothing(
    client: Client, rt: Runtime, declared: bool
) -> None:
    headers = {**OFFSET_STREAM, "Upload-Length": "10"}
    if declared:
        headers["Content-Length"] = "11"
    response = await client.post(PREFIX, headers=headers, data=b"x" * 11)
    assert response.status_code == 413
    async with rt.db.session() as s:
        assert (await s.execute(select(UploadSession))).first() is None
    assert list((rt.settings.data_dir / "uploads").glob("*")) == []


async def test_creation_with_bad_checksum_is_460_and_creates_nothing(
    client: Client, rt: Runtime
) -> None:
    headers = {**OFFSET_STREAM, "Upload-Length": "10", "Upload-Checksum": checksum("sha1", b"a")}
    response = await client.post(PREFIX, headers=headers, data=b"0123456789")
    assert response.status_code == 460
    async with rt.db.session() as s:
        assert (await s.execute(select(UploadSession))).first() is None


async def test_patch_needs_offset_stream_content_type(client: Client, rt: Runtime) -> None:
    path = await create(client, 10)
    response = await client.patch(
        path,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
        data=b"12345",
    )
    assert response.status_code == 415
    assert "application/offset+octet-stream" in (await error_of(response))["message"]
    assert not part_of(rt.settings, path).exists()


async def test_wrong_offset_is_409_and_writes_nothing(client: Client, rt: Runtime) -> None:
    path = await create(client, 1000)
    assert (await patch(client, path, 0, b"a" * 100)).status_code == 204
    response = await patch(client, path, 50, b"b" * 100)
    assert response.status_code == 409
    error = await error_of(response)
    assert error["code"] == "offset_mismatch"
    assert error["message"] == "Upload-Offset 50 does not match the upload's offset 100"
    assert part_of(rt.settings, path).read_bytes() == b"a" * 100
    assert (await head(client, path)).headers["Upload-Offset"] == "100"


async def test_more_bytes_than_upload_length_is_413_offset_unchanged(
    client: Client, rt: Runtime
) -> None:
    path = await create(client, 1000)
    assert (await patch(client, path, 0, b"a" * 600)).status_code == 204
    response = await patch(client, path, 600, b"b" * 401)
    assert response.status_code == 413
    assert "only 400 remain of Upload-Length 1000" in (await error_of(response))["message"]
    assert (await head(client, path)).headers["Upload-Offset"] == "600"
    assert part_of(rt.settings, path).read_bytes() == b"a" * 600


async def test_streamed_body_without_length_stops_at_upload_length(
    client: Client, rt: Runtime
) -> None:
    path = await create(client, 1000)
    headers = {**OFFSET_STREAM, "Upload-Offset": "0", "Transfer-Encoding": "chunked"}
    async with client.request(path, method="PATCH", headers=headers) as connection:
        for _ in range(5):
            await connection.send(b"c" * 300)
        await connection.send_complete()
    response = await connection.as_response()
    assert response.status_code == 413
    assert "nothing was stored" in (await error_of(response))["message"]
    assert (await head(client, path)).headers["Upload-Offset"] == "0"
    assert part_of(rt.settings, path).stat().st_size == 0


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
async def test_checksum_match_and_mismatch(client: Client, rt: Runtime, algorithm: str) -> None:
    path = await create(client, 20)
    good = await patch(
        client, path, 0, b"0123456789", **{"Upload-Checksum": checksum(algorithm, b"0123456789")}
    )
    assert good.status_code == 204
    bad = await patch(
        client, path, 10, b"abcdefghij", **{"Upload-Checksum": checksum(algorithm, b"other")}
    )
    assert bad.status_code == 460
    assert bad.headers["Tus-Resumable"] == "1.0.0"
    error = await error_of(bad)
    assert error["code"] == "checksum_mismatch"
    assert "discarded" in error["message"]
    assert (await head(client, path)).headers["Upload-Offset"] == "10"
    assert part_of(rt.settings, path).read_bytes() == b"0123456789"


async def test_unsupported_checksum_algorithm_is_400(client: Client) -> None:
    path = await create(client, 20)
    response = await patch(client, path, 0, b"x", **{"Upload-Checksum": "crc32 AAAAAA=="})
    assert response.status_code == 400
    assert "use sha1, sha256, md5" in (await error_of(response))["message"]


async def test_second_concurrent_patch_is_refused_and_file_intact(
    app: object, client: Client, rt: Runtime
) -> None:
    data = os.urandom(3_000_000)
    path = await create(client, len(data))
    writers = writers_of(app)  # type: ignore[arg-type]
    headers = {**OFFSET_STREAM, "Upload-Offset": "0", "Content-Length": str(len(data))}
    async with client.request(path, method="PATCH", headers=headers) as first:
        await first.send(data[:1_500_000])
        for _ in range(500):  # until the first request holds the upload
            if upload_id(path) in writers.busy:
                break
            await asyncio.sleep(0.01)
        second = await patch(client, path, 0, b"z" * 1000)
        assert second.status_code == 423
        assert (await error_of(second))["code"] == "upload_locked"
        deleted = await client.delete(path, headers=TUS)
        assert deleted.status_code == 423
        await first.send(data[1_500_000:])
        await first.send_complete()
    response = await first.as_response()
    assert response.status_code == 204
    video_id = response.headers["StreamForge-Video-Id"]
    stored = rt.storage.local_path(f"videos/{video_id}/source/clip.mp4")
    assert stored is not None
    assert stored.read_bytes() == data


async def test_client_gone_mid_body_keeps_what_arrived(
    app: object, client: Client, rt: Runtime
) -> None:
    path = await create(client, 5_000_000)
    headers = {**OFFSET_STREAM, "Upload-Offset": "0", "Content-Length": "5000000"}
    async with client.request(path, method="PATCH", headers=headers) as connection:
        await connection.send(b"k" * 1_200_000)
        await asyncio.sleep(0.2)
        await connection.disconnect()
    # what arrived is fsynced and acknowledged; the client resumes from there
    offset = int((await head(client, path)).headers["Upload-Offset"])
    assert offset == 1_200_000
    assert part_of(rt.settings, path).stat().st_size == offset


async def test_a_status_read_that_began_before_a_patch_finished_cuts_nothing(
    client: Client, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HEAD/GET read the upload, then (when no request is writing) make the part file agree
    # with the offset. A PATCH that ends between the two must not have its bytes cut to
    # the offset read before it: that lost acknowledged data (found as a flaky CI run).
    path = await create(client, 1000)
    reading, go_on = asyncio.Event(), asyncio.Event()
    check_owner = web_access.require_upload_owner

    async def owner_check_that_waits(owner_id: str | None, upload: str) -> None:
        if request.method == "GET":  # the status read, after it loaded the upload
            reading.set()
            await go_on.wait()
        await check_owner(owner_id, upload)

    monkeypatch.setattr(web_access, "require_upload_owner", owner_check_that_waits)
    status = asyncio.ensure_future(client.get(path, headers=TUS))
    await reading.wait()  # the read saw offset 0
    assert (await patch(client, path, 0, b"a" * 600)).status_code == 204
    go_on.set()
    response = await status
    assert response.status_code == 200
    assert (await response.get_json())["offset"] == 600
    assert part_of(rt.settings, path).read_bytes() == b"a" * 600
    assert (await head(client, path)).headers["Upload-Offset"] == "600"


async def test_a_stalled_chunk_ends_with_408_and_keeps_what_arrived(tmp_path: Path) -> None:
    # a client that stops sending without closing its connection (a laptop lid, a dead
    # NAT entry) must not hold the upload forever
    async with app_with(tmp_path, STREAMFORGE_UPLOADS__IDLE_TIMEOUT="0.5") as (app, client):
        rt = app.extensions["streamforge"].runtime
        path = await create(client, 3000)
        headers = {**OFFSET_STREAM, "Upload-Offset": "0", "Content-Length": "3000"}
        async with client.request(path, method="PATCH", headers=headers) as connection:
            await connection.send(b"s" * 1000)
            answer = json.loads(await connection.receive())  # nothing more is sent
        assert connection.status_code == 408
        error = answer["error"]
        assert (error["status"], error["code"]) == (408, "upload_stalled")
        assert "offset 1000" in error["message"]
        assert (await head(client, path)).headers["Upload-Offset"] == "1000"
        assert part_of(rt.settings, path).read_bytes() == b"s" * 1000
        assert upload_id(path) not in writers_of(app).busy  # free for the next chunk
        assert (await patch(client, path, 1000, b"t" * 2000)).status_code == 204


async def test_a_stalled_chunk_with_a_checksum_keeps_nothing(tmp_path: Path) -> None:
    async with app_with(tmp_path, STREAMFORGE_UPLOADS__IDLE_TIMEOUT="0.5") as (app, client):
        rt = app.extensions["streamforge"].runtime
        path = await create(client, 3000)
        headers = {
            **OFFSET_STREAM,
            "Upload-Offset": "0",
            "Content-Length": "3000",
            "Upload-Checksum": checksum("sha1", b"c" * 3000),
        }
        async with client.request(path, method="PATCH", headers=headers) as connection:
            await connection.send(b"c" * 1000)
            answer = json.loads(await connection.receive())
        assert connection.status_code == 408
        assert answer["error"]["code"] == "upload_stalled"
        assert (await head(client, path)).headers["Upload-Offset"] == "0"
        assert part_of(rt.settings, path).stat().st_size == 0


async def test_termination(client: Client, rt: Runtime) -> None:
    path = await create(client, 100)
    await patch(client, path, 0, b"x" * 10)
    assert part_of(rt.settings, path).exists()
    response = await client.delete(path, headers=TUS)
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert not part_of(rt.settings, path).exists()
    gone = await head(client, path)
    assert gone.status_code == 404
    assert gone.headers["Tus-Resumable"] == "1.0.0"
    assert (await patch(client, path, 10, b"y")).status_code == 404
    assert (await client.delete(path, headers=TUS)).status_code == 404


async def test_unknown_upload_is_404_json(client: Client) -> None:
    response = await client.patch(
        f"{PREFIX}/nope", headers={**OFFSET_STREAM, "Upload-Offset": "0"}, data=b"x"
    )
    assert response.status_code == 404
    error = await error_of(response)
    assert error["code"] == "not_found"
    assert "no upload 'nope'" in error["message"]


async def _settle() -> None:
    """Let the app's own startup purge pass finish, so that only the test's pass acts."""
    await asyncio.sleep(0.3)


async def _expire(rt: Runtime, path: str) -> None:
    async with rt.db.session() as s:
        await s.execute(
            update(UploadSession)
            .where(UploadSession.id == upload_id(path))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_expired_upload_is_410_then_purged(app: object, client: Client, rt: Runtime) -> None:
    await _settle()
    path = await create(client, 100)
    await patch(client, path, 0, b"x" * 10)
    await _expire(rt, path)
    gone = await head(client, path)
    assert gone.status_code == 410
    assert "expired" in (await error_of(gone))["message"]
    assert (await patch(client, path, 10, b"y")).status_code == 410

    result = await uploads.purge(rt.db, rt.storage, rt.settings, writers_of(app))  # type: ignore[arg-type]
    assert result.deleted == [upload_id(path)]
    assert not part_of(rt.settings, path).exists()
    assert (await head(client, path)).status_code == 404


async def test_purge_spares_uploads_being_written_and_fresh_ones(
    app: object, client: Client, rt: Runtime
) -> None:
    await _settle()
    busy = await create(client, 100)
    fresh = await create(client, 100)
    await patch(client, busy, 0, b"x" * 10)
    await _expire(rt, busy)
    writers = writers_of(app)  # type: ignore[arg-type]
    with writers.hold(upload_id(busy)):
        result = await uploads.purge(rt.db, rt.storage, rt.settings, writers)
    assert result.deleted == []
    assert part_of(rt.settings, busy).exists()
    assert await row(rt, busy) is not None
    assert await row(rt, fresh) is not None


async def test_purge_sweeps_orphan_part_files(app: object, rt: Runtime) -> None:
    await _settle()
    orphan = rt.settings.data_dir / "uploads" / "orphan.part"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"junk")
    old = datetime.now(UTC).timestamp() - 25 * 3600
    os.utime(orphan, (old, old))
    writers = writers_of(app)  # type: ignore[arg-type]
    result = await uploads.purge(rt.db, rt.storage, rt.settings, writers)
    assert result.deleted == ["orphan"]
    assert not orphan.exists()


async def test_purge_finishes_an_upload_whose_publishing_was_cut_short(
    app: object, client: Client, rt: Runtime
) -> None:
    await _settle()
    # all bytes acknowledged, then the process died before the file was published
    path = await create(client, 10)
    part_of(rt.settings, path).parent.mkdir(parents=True, exist_ok=True)
    part_of(rt.settings, path).write_bytes(b"0123456789")
    async with rt.db.session() as s:
        await s.execute(
            update(UploadSession).where(UploadSession.id == upload_id(path)).values(offset=10)
        )
    writers = writers_of(app)  # type: ignore[arg-type]
    result = await uploads.purge(rt.db, rt.storage, rt.settings, writers)
    assert result.finished == [upload_id(path)]
    body = await (await client.get(path)).get_json()
    assert body["complete"] is True
    async with rt.db.session() as s:
        video = await s.get(Video, body["video_id"])
    assert video is not None
    assert video.status == VideoStatus.QUEUED


async def test_unacknowledged_tail_is_cut_on_head(client: Client, rt: Runtime) -> None:
    path = await create(client, 100)
    await patch(client, path, 0, b"a" * 40)
    with part_of(rt.settings, path).open("ab") as f:  # a killed write left bytes behind
        f.write(b"garbage")
    response = await head(client, path)
    assert response.headers["Upload-Offset"] == "40"
    assert part_of(rt.settings, path).read_bytes() == b"a" * 40


async def test_settings_defaults() -> None:
    settings = Settings()
    assert settings.uploads.max_size == 50 * 1024**3
    assert settings.uploads.expire_hours == 24
    assert settings.uploads.purge_interval == 600
    assert settings.server.cors_origins == []
