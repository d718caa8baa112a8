"""The local storage backend: atomic writes, ranges, listing, and keys that cannot escape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamforge.config import Settings
from streamforge.errors import InvalidKey, ObjectNotFound
from streamforge.plugins import Registry
from streamforge.storage import StorageBackend, validate_key

HOSTILE_KEYS = [
    "../etc/passwd",
    "videos/../../etc/passwd",
    "/etc/passwd",
    "videos/a/../../../x",
    "videos\\..\\x",
    "videos/a\x00b",
    "videos//x",
    "videos/.hidden",
    "",
    "videos/%2e%2e/x",
    "./x",
    "x/",
]


@pytest.fixture
def storage(settings: Settings) -> StorageBackend:
    backend: StorageBackend = Registry.build(settings).storage()
    return backend


async def collect(it: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in it])


async def test_put_read_stat_list_delete(storage: StorageBackend, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = bytes(range(256)) * 4000  # ~1 MB, several read chunks
    src.write_bytes(data)
    await storage.put_file("videos/abc/source/clip.mp4", src)
    await storage.put_bytes("videos/abc/hls/master.m3u8", b"#EXTM3U\n")
    info = await storage.stat("videos/abc/source/clip.mp4")
    assert info is not None
    assert info.size == len(data)
    assert await collect(storage.read("videos/abc/source/clip.mp4")) == data
    assert await collect(storage.read("videos/abc/source/clip.mp4", 10, 20)) == data[10:20]
    assert await collect(storage.read("videos/abc/source/clip.mp4", len(data) - 5)) == data[-5:]
    assert await storage.list("videos/abc/") == [
        "videos/abc/hls/master.m3u8",
        "videos/abc/source/clip.mp4",
    ]
    assert await storage.delete_prefix("videos/abc/") == 2
    assert await storage.list("videos/abc/") == []
    assert await storage.stat("videos/abc/source/clip.mp4") is None


async def test_missing_object(storage: StorageBackend) -> None:
    with pytest.raises(ObjectNotFound):
        await collect(storage.read("videos/none/x.bin"))
    assert not await storage.exists("videos/none/x.bin")


async def test_failed_stream_leaves_nothing(storage: StorageBackend) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await storage.put_stream("videos/v/source/x.mp4", broken())
    assert await storage.stat("videos/v/source/x.mp4") is None
    assert await storage.list("videos/") == []


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_hostile_keys_never_touch_the_disk(
    storage: StorageBackend, key: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        await storage.put_bytes(key, b"x")
    with pytest.raises(InvalidKey):
        await storage.stat(key)
    with pytest.raises(InvalidKey):
        await collect(storage.read(key))
    assert not (tmp_path / "etc").exists()


async def test_symlink_out_of_root_is_refused(storage: StorageBackend, tmp_path: Path) -> None:
    root = storage.local_path("videos/x")
    assert root is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    root.parent.mkdir(parents=True, exist_ok=True)
    root.symlink_to(outside)
    with pytest.raises(InvalidKey):
        await collect(storage.read("videos/x/secret"))
