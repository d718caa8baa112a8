"""A real server killed with SIGKILL mid-PATCH, and the periodic purge of expired uploads."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from tusclient.client import TusClient

from tests.e2e.cli import Server, running_server, write_config
from tests.uploads.real import (
    PREFIX,
    TUS,
    call,
    part_file,
    sha256,
    size_of,
    start_patch,
    status_of,
    stored_source,
    upload_path,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_head_matches_disk_after_kill_9_mid_patch_and_upload_completes(tmp_path: Path) -> None:
    config = write_config(tmp_path, jobs={"max_attempts": 1})
    source = tmp_path / "big.bin"
    data = os.urandom(4_000_000)
    source.write_bytes(data)

    server = Server(config)
    try:
        server.wait_ready()
        with source.open("rb") as stream:
            first = TusClient(server.url + PREFIX, headers=server.auth).uploader(
                file_stream=stream, chunk_size=1_000_000, metadata={"filename": "big.bin"}
            )
            first.upload(stop_at=1_000_000)
        url = first.url
        part = part_file(tmp_path, url)
        # a slow PATCH announcing 3 MB: 2 MB arrive, then the server dies mid-body
        conn = start_patch(server, url, 1_000_000, 3_000_000)
        for i in range(20):
            start = 1_000_000 + i * 100_000
            conn.send(data[start : start + 100_000])
            time.sleep(0.01)
        wait_until(lambda: size_of(part) > 1_000_000, what="unacknowledged bytes on disk")
    finally:
        server.kill()
    conn.close()
    assert size_of(part) > 1_000_000  # written, never acknowledged

    with running_server(config) as again:
        status, headers, _ = call(again, "HEAD", upload_path(url), TUS)
        assert status == 200
        assert headers["Upload-Offset"] == "1000000"
        assert size_of(part) == 1_000_000  # the unacknowledged tail is gone
        with source.open("rb") as stream:
            resumed = TusClient(again.url + PREFIX, headers=again.auth).uploader(
                file_stream=stream, url=again.url + upload_path(url), chunk_size=1_300_000
            )
            assert resumed.offset == 1_000_000
            resumed.upload()
        state = status_of(again, url)
    assert state["complete"] is True
    assert sha256(stored_source(tmp_path, state["video_id"])) == sha256(source)


def test_purge_task_deletes_expired_uploads_but_not_one_being_written(tmp_path: Path) -> None:
    # an upload expires 1.8 s after its last chunk; the purge task runs every 0.2 s
    extra = "[uploads]\nexpire_hours = 0.0005\npurge_interval = 0.2\n"
    config = write_config(tmp_path, extra, jobs={"max_attempts": 1})
    with running_server(config) as server:
        _, headers, _ = call(server, "POST", PREFIX, {**TUS, "Upload-Length": "1000"})
        abandoned = headers["Location"]
        status, _, _ = call(
            server,
            "PATCH",
            abandoned,
            {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
            b"x" * 100,
        )
        assert status == 204
        assert size_of(part_file(tmp_path, abandoned)) == 100

        _, headers, _ = call(server, "POST", PREFIX, {**TUS, "Upload-Length": "300000"})
        busy = headers["Location"]
        body = os.urandom(300_000)
        conn = start_patch(server, busy, 0, len(body))
        # this PATCH takes longer than the expiry: the purge must leave it alone
        for i in range(30):
            conn.send(body[i * 10_000 : (i + 1) * 10_000])
            time.sleep(0.1)
        response = conn.getresponse()
        assert response.status == 204, response.read()
        video_id = response.getheader("StreamForge-Video-Id")
        conn.close()

        def gone() -> bool:
            status, _, _ = call(server, "HEAD", abandoned, TUS)
            return status == 404

        wait_until(gone, timeout=10, what="the expired upload to be purged")
        assert not part_file(tmp_path, abandoned).exists()
    assert video_id
    assert sha256(stored_source(tmp_path, video_id)) == hashlib.sha256(body).hexdigest()
