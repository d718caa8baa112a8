"""Helpers for tests against a real ``streamforge serve`` over real HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.cli import Server

PREFIX = "/api/v1/uploads"
TUS = {"Tus-Resumable": "1.0.0"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def connect(server: Server) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname or "localhost", parts.port, timeout=30)


def call(
    server: Server, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, Message, bytes]:
    conn = connect(server)
    try:
        conn.request(method, path, body=body, headers={**server.auth, **headers})
        response = conn.getresponse()
        return response.status, response.headers, response.read()  # case-insensitive
    finally:
        conn.close()


def upload_path(url: str) -> str:
    return urlsplit(url).path


def status_of(server: Server, url: str) -> dict[str, Any]:
    status, _, body = call(server, "GET", upload_path(url), {})
    assert status == 200, (status, body)
    result: dict[str, Any] = json.loads(body)
    return result


def stored_source(folder: Path, video_id: str) -> Path:
    """The stored source file of a video (local storage under ``folder``/data/media)."""
    files = list((folder / "data" / "media" / "videos" / video_id / "source").iterdir())
    assert len(files) == 1, files
    return files[0]


def part_file(folder: Path, url: str) -> Path:
    return folder / "data" / "uploads" / f"{upload_path(url).rsplit('/', 1)[1]}.part"


def size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def start_patch(server: Server, url: str, offset: int, declared: int) -> http.client.HTTPConnection:
    """Open a PATCH that announces ``declared`` bytes; the caller sends the body."""
    conn = connect(server)
    conn.putrequest("PATCH", upload_path(url))
    for name, value in {
        **TUS,
        **server.auth,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Content-Length": str(declared),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    return conn
