"""Real tus clients (tuspy, sync and async) against a real ``streamforge serve``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tusclient.client import TusClient

from tests.e2e.cli import Server, running_server, write_config
from tests.mediagen import make_clip
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("tus")
    # random bytes are not video: fail their transcodes once, quickly
    config = write_config(folder, jobs={"max_attempts": 1})
    with running_server(config) as server:
        yield server, folder


def random_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize(
    ("size", "chunk_size", "checksum"),
    [
        (500_000, 64 * 1024, False),
        (3_000_000, 1024 * 1024, True),
        (7_300_000, 2_500_000, False),
        (3_000_000, 10_000_000, True),  # one request
    ],
)
def test_sync_uploader_sizes_and_chunks(
    served: tuple[Server, Path], tmp_path: Path, size: int, chunk_size: int, checksum: bool
) -> None:
    server, folder = served
    source = random_file(tmp_path, f"file_{size}.bin", size)
    with source.open("rb") as stream:
        uploader = TusClient(server.url + PREFIX, headers=server.auth).uploader(
            file_stream=stream,
            chunk_size=chunk_size,
            metadata={"filename": source.name, "title": f"random {size}"},
            upload_checksum=checksum,
        )
        uploader.upload()
    assert uploader.offset == size
    state = status_of(server, uploader.url)
    assert state["complete"] is True
    assert state["offset"] == state["length"] == size
    assert state["filename"] == source.name
    assert sha256(stored_source(folder, state["video_id"])) == sha256(source)
    video = server.json(f"/api/v1/videos/{state['video_id']}")
    assert video["title"] == f"random {size}"
    assert not part_file(folder, uploader.url).exists()


async def test_async_uploader(served: tuple[Server, Path], tmp_path: Path) -> None:
    server, folder = served
    source = random_file(tmp_path, "async.bin", 3_100_000)
    with source.open("rb") as stream:
        uploader = TusClient(server.url + PREFIX, headers=server.auth).async_uploader(
            file_stream=stream, chunk_size=700_000, metadata={"filename": "async.bin"}
        )
        await uploader.upload()
    state = status_of(server, uploader.url)
    assert state["complete"] is True
    assert sha256(stored_source(folder, state["video_id"])) == sha256(source)


def test_interrupted_upload_resumes_from_head(served: tuple[Server, Path], tmp_path: Path) -> None:
    server, folder = served
    source = random_file(tmp_path, "resume.bin", 2_600_000)
    client = TusClient(server.url + PREFIX, headers=server.auth)
    with source.open("rb") as stream:
        first = client.uploader(
            file_stream=stream, chunk_size=500_000, metadata={"filename": "resume.bin"}
        )
        first.upload(stop_at=1_000_000)  # the "network" fails after two chunks
    url = first.url
    assert status_of(server, url)["offset"] == 1_000_000
    assert part_file(folder, url).stat().st_size == 1_000_000

    with source.open("rb") as stream:
        second = client.uploader(file_stream=stream, url=url, chunk_size=600_000)
        assert second.offset == 1_000_000  # read with HEAD
        second.upload()
    state = status_of(server, url)
    assert state["complete"] is True
    assert sha256(stored_source(folder, state["video_id"])) == sha256(source)


def test_location_ignores_a_forged_host(served: tuple[Server, Path]) -> None:
    server, _ = served
    status, headers, _ = call(
        server, "POST", PREFIX, {**TUS, "Upload-Length": "10", "Host": "evil.example"}
    )
    assert status == 201
    assert headers["Location"].startswith(f"{PREFIX}/")


def test_client_gone_mid_patch_keeps_acknowledged_bytes(
    served: tuple[Server, Path], tmp_path: Path
) -> None:
    server, folder = served
    data = os.urandom(3_000_000)
    _, headers, _ = call(server, "POST", PREFIX, {**TUS, "Upload-Length": str(len(data))})
    url = headers["Location"]
    conn = start_patch(server, url, 0, len(data))
    conn.send(data[:1_600_000])
    wait_until(lambda: size_of(part_file(folder, url)) >= 1_000_000, what="bytes on disk")
    conn.close()  # the connection drops mid-body
    wait_until(lambda: status_of(server, url)["offset"] > 0, what="the kept bytes")
    offset = status_of(server, url)["offset"]
    assert part_file(folder, url).stat().st_size == offset
    assert part_file(folder, url).read_bytes() == data[:offset]

    source = tmp_path / "rest.bin"
    source.write_bytes(data)
    with source.open("rb") as stream:
        resumed = TusClient(server.url + PREFIX, headers=server.auth).uploader(
            file_stream=stream, url=server.url + url, chunk_size=1_000_000
        )
        resumed.upload()
    state = status_of(server, url)
    assert sha256(stored_source(folder, state["video_id"])) == sha256(source)


def test_a_client_that_stalls_mid_patch_gets_408_and_resumes(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[uploads]\nidle_timeout = 1", jobs={"max_attempts": 1})
    data = os.urandom(2_000_000)
    with running_server(config) as server:
        _, headers, _ = call(server, "POST", PREFIX, {**TUS, "Upload-Length": str(len(data))})
        url = headers["Location"]
        conn = start_patch(server, url, 0, len(data))
        conn.send(data[:700_000])  # then silence, the connection left open
        response = conn.getresponse()
        assert response.status == 408
        assert json.loads(response.read())["error"]["code"] == "upload_stalled"
        conn.close()
        assert status_of(server, url)["offset"] == 700_000
        assert part_file(tmp_path, url).read_bytes() == data[:700_000]

        source = tmp_path / "whole.bin"
        source.write_bytes(data)
        with source.open("rb") as stream:
            TusClient(server.url + PREFIX, headers=server.auth).uploader(
                file_stream=stream, url=server.url + url, chunk_size=1_000_000
            ).upload()
        state = status_of(server, url)
        assert state["complete"] is True
        assert sha256(stored_source(tmp_path, state["video_id"])) == sha256(source)


def test_real_clip_uploads_and_transcodes_to_ready(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "Beach Day.mp4", width=320, height=240, seconds=2.0)
    with running_server(write_config(tmp_path)) as server:
        with clip.open("rb") as stream:
            uploader = TusClient(server.url + PREFIX, headers=server.auth).uploader(
                file_stream=stream,
                chunk_size=64 * 1024,
                metadata={"filename": clip.name, "filetype": "video/mp4", "privacy": "unlisted"},
                upload_checksum=True,
            )
            uploader.upload()
        video_id = uploader.request.response_headers["streamforge-video-id"]
        assert status_of(server, uploader.url)["video_id"] == video_id
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
    assert video["status"] == "ready", video["error"]
    assert video["title"] == "Beach Day"
    assert video["privacy"] == "unlisted"
    assert video["renditions"]
    assert sha256(stored_source(tmp_path, video_id)) == sha256(clip)
    assert upload_path(uploader.url).startswith(PREFIX)
