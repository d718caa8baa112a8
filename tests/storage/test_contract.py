"""The storage contract: what every backend must do, run against ``local`` and ``s3``."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamforge.errors import InvalidKey, ObjectNotFound
from streamforge.storage import StorageBackend, validate_key

from .conftest import collect

DATA = bytes(range(256)) * 4000  # ~1 MB: several read chunks

HOSTILE_KEYS = [
    "..",
    "../etc/passwd",
    "videos/../../etc/passwd",
    "videos/%2e%2e/x",
    "%2e%2e/x",
    "/etc/passwd",
    "/videos/x",
    "videos\\..\\x",
    "videos/a\x00b",
    "videos//x",
    "videos/x/",
    "videos/./x",
    "videos/.hidden",
    "",
]
HOSTILE_PREFIXES = ["../", "/videos/", "videos//", "videos/../", "videos", "%2e%2e/", "\x00/"]


def leftovers(storage: StorageBackend) -> list[Path]:
    """Temporary files a backend left behind."""
    tmp = Path(getattr(storage, "root", "/nonexistent")) / ".tmp"  # local
    s3_tmp = storage.settings.data_dir / "tmp"  # s3 spools streams here
    return [p for folder in (tmp, s3_tmp) if folder.is_dir() for p in folder.iterdir()]


async def test_put_read_stat_list(storage: StorageBackend, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    await storage.put_file("videos/abc/source/clip.mp4", src)
    await storage.put_bytes("videos/abc/hls/master.m3u8", b"#EXTM3U\n")
    await storage.put_bytes("videos/abcd/other.bin", b"sibling prefix")
    info = await storage.stat("videos/abc/source/clip.mp4")
    assert info is not None
    assert info.key == "videos/abc/source/clip.mp4"
    assert info.size == len(DATA)
    assert info.modified.tzinfo is not None
    assert info.etag
    assert src.exists()  # put_file copies
    assert await collect(storage.read("videos/abc/source/clip.mp4")) == DATA
    assert await storage.exists("videos/abc/hls/master.m3u8")
    assert await storage.list("videos/abc/") == [
        "videos/abc/hls/master.m3u8",
        "videos/abc/source/clip.mp4",
    ]
    assert await storage.list("videos/abc/hls/") == ["videos/abc/hls/master.m3u8"]
    assert await storage.list("videos/zzz/") == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),
        (10, 20),
        (0, 1),
        (len(DATA) - 5, None),
        (len(DATA) - 5, len(DATA) + 100),  # end past EOF: up to EOF
        (300_000, 700_000),  # spans read chunks
        (7, 7),  # empty range
        (20, 10),  # inverted: empty
        (len(DATA), None),  # at EOF
        (len(DATA) + 10, None),  # past EOF
    ],
)
async def test_ranges(storage: StorageBackend, start: int, end: int | None) -> None:
    await storage.put_bytes("videos/r/data.bin", DATA)
    got = await collect(storage.read("videos/r/data.bin", start, end))
    want = DATA[start:end] if end is None or end >= start else b""
    assert got == want


async def test_overwrite_replaces_and_changes_etag(storage: StorageBackend) -> None:
    await storage.put_bytes("videos/o/x.bin", b"first version")
    before = await storage.stat("videos/o/x.bin")
    await storage.put_bytes("videos/o/x.bin", b"second")
    after = await storage.stat("videos/o/x.bin")
    assert before is not None
    assert after is not None
    assert after.size == len(b"second")
    assert after.etag != before.etag
    assert await collect(storage.read("videos/o/x.bin")) == b"second"


async def test_put_stream_counts_and_keeps_every_byte(storage: StorageBackend) -> None:
    blocks = [os.urandom(64 * 1024 + i) for i in range(40)]  # ~2.6 MB in uneven chunks

    async def source() -> AsyncIterator[bytes]:
        for block in blocks:
            yield block

    written = await storage.put_stream("videos/s/source/upload.mp4", source())
    whole = b"".join(blocks)
    assert written == len(whole)
    got = await collect(storage.read("videos/s/source/upload.mp4"))
    assert hashlib.sha256(got).digest() == hashlib.sha256(whole).digest()
    assert leftovers(storage) == []


async def test_failed_stream_leaves_nothing(storage: StorageBackend) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial" * 1000
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await storage.put_stream("videos/v/source/x.mp4", broken())
    assert await storage.stat("videos/v/source/x.mp4") is None
    assert await storage.list("videos/") == []
    assert leftovers(storage) == []


async def test_failed_stream_keeps_the_previous_object(storage: StorageBackend) -> None:
    await storage.put_bytes("videos/v/hls/master.m3u8", b"#EXTM3U\nold\n")

    async def broken() -> AsyncIterator[bytes]:
        yield b"#EXTM3U\nnew, half"
        raise ConnectionError("encoder died")

    with pytest.raises(ConnectionError):
        await storage.put_stream("videos/v/hls/master.m3u8", broken())
    assert await collect(storage.read("videos/v/hls/master.m3u8")) == b"#EXTM3U\nold\n"


async def test_delete_and_delete_prefix(storage: StorageBackend) -> None:
    for name in ("a.bin", "hls/1.m4s", "hls/2.m4s", "thumbs/t/deep.jpg"):
        await storage.put_bytes(f"videos/d/{name}", b"x")
    await storage.put_bytes("videos/dd/keep.bin", b"sibling prefix survives")
    await storage.delete("videos/d/a.bin")
    await storage.delete("videos/d/a.bin")  # deleting a missing key is fine
    assert not await storage.exists("videos/d/a.bin")
    assert await storage.delete_prefix("videos/d/") == 3
    assert await storage.list("videos/d/") == []
    assert await storage.delete_prefix("videos/d/") == 0
    assert await storage.list("videos/") == ["videos/dd/keep.bin"]


async def test_move_file(storage: StorageBackend, tmp_path: Path) -> None:
    src = tmp_path / "upload.part"
    src.write_bytes(DATA)
    await storage.move_file("videos/m/source/clip.mp4", src)
    assert not src.exists()
    assert await collect(storage.read("videos/m/source/clip.mp4")) == DATA


async def test_download(storage: StorageBackend, tmp_path: Path) -> None:
    await storage.put_bytes("videos/dl/source/clip.mp4", DATA)
    dest = tmp_path / "fetched.mp4"
    await storage.download("videos/dl/source/clip.mp4", dest)
    assert dest.read_bytes() == DATA


async def test_missing_objects(storage: StorageBackend, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        await collect(storage.read("videos/none/x.bin"))
    with pytest.raises(ObjectNotFound):
        await collect(storage.read("videos/none/x.bin", 5, 5))
    with pytest.raises(ObjectNotFound):
        await storage.download("videos/none/x.bin", tmp_path / "x.bin")
    assert await storage.stat("videos/none/x.bin") is None
    assert not await storage.exists("videos/none/x.bin")


async def test_stopping_a_read_early_frees_the_backend(storage: StorageBackend) -> None:
    await storage.put_bytes("videos/e/big.bin", DATA)
    for _ in range(15):  # more than a connection pool holds
        chunks = storage.read("videos/e/big.bin")
        assert await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
    assert await collect(storage.read("videos/e/big.bin", 0, 4)) == DATA[:4]


class _Tripwire:
    """Stands in for the S3 client: any use of it means a bad key reached the backend."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a hostile key reached the S3 client ({name})")


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_hostile_keys_never_reach_the_backend(
    storage: StorageBackend, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = getattr(storage, "s3", None)
    if s3 is not None:
        monkeypatch.setattr(s3, "minio", _Tripwire())
    src = tmp_path / "src.bin"
    src.write_bytes(b"x")
    before = _tree(tmp_path)
    started = False

    async def source() -> AsyncIterator[bytes]:
        nonlocal started
        started = True
        yield b"x"

    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        await storage.put_bytes(key, b"x")
    with pytest.raises(InvalidKey):
        await storage.put_stream(key, source())
    with pytest.raises(InvalidKey):
        await storage.put_file(key, src)
    with pytest.raises(InvalidKey):
        await storage.move_file(key, src)
    with pytest.raises(InvalidKey):
        await storage.stat(key)
    with pytest.raises(InvalidKey):
        await storage.exists(key)
    with pytest.raises(InvalidKey):
        await collect(storage.read(key))
    with pytest.raises(InvalidKey):
        await storage.delete(key)
    with pytest.raises(InvalidKey):
        await storage.download(key, tmp_path / "out.bin")
    with contextlib.suppress(InvalidKey):  # the base url() answers None for any key
        assert await storage.url(key) is None
    with pytest.raises(InvalidKey):
        storage.local_path(key)
    assert not started, "the stream was read before the key was checked"
    assert src.exists()
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
async def test_hostile_prefixes_are_refused(
    storage: StorageBackend, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = getattr(storage, "s3", None)
    if s3 is not None:
        monkeypatch.setattr(s3, "minio", _Tripwire())
    before = _tree(tmp_path)
    with pytest.raises(InvalidKey):
        await storage.list(prefix)
    with pytest.raises(InvalidKey):
        await storage.delete_prefix(prefix)
    assert _tree(tmp_path) == before


async def test_check_passes(storage: StorageBackend) -> None:
    await storage.check()
