"""Small tus helpers for the app's test client."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client

from streamforge.config import Settings
from streamforge.library.uploads import part_path
from tests.conftest import make_settings

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}
PREFIX = "/api/v1/uploads"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def metadata(**values: str) -> str:
    return ",".join(f"{k} {b64(v)}" for k, v in values.items())


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


async def create(client: Client, length: int, *, filename: str = "clip.mp4", **headers: str) -> str:
    """POST a new upload; return its path."""
    response = await client.post(
        PREFIX,
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename=filename),
            **headers,
        },
    )
    assert response.status_code == 201, await response.get_data()
    location = response.headers["Location"]
    assert location.startswith(PREFIX + "/")
    return location


async def patch(client: Client, path: str, offset: int, data: bytes, **headers: str) -> Any:
    return await client.patch(
        path,
        headers={
            **OFFSET_STREAM,
            "Upload-Offset": str(offset),
            "Content-Length": str(len(data)),  # as real clients send it
            **headers,
        },
        data=data,
    )


async def head(client: Client, path: str) -> Any:
    return await client.head(path, headers=TUS)


def part_of(settings: Settings, path: str) -> Path:
    return part_path(settings, path.rsplit("/", 1)[1])


async def error_of(response: Any) -> dict[str, Any]:
    body = await response.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["status"] == response.status_code
    return error


@asynccontextmanager
async def app_with(tmp_path: Path, **env: str) -> AsyncIterator[tuple[Quart, Client]]:
    """A served app (jobs not run) with STREAMFORGE_* overrides, and an admin's test
    client (an API token on every request)."""
    from streamforge.app import create_app
    from tests.authn import bearer_client, make_account

    app = create_app(make_settings(tmp_path, **env), run_jobs=False)
    async with app.test_app():
        state = app.extensions["streamforge"]
        _, token = await make_account(state.runtime.db)
        yield app, bearer_client(app, token)
