"""Storage fixtures: every contract test runs against ``local`` and against ``s3``.

The s3 side talks HTTP to a real S3-compatible server: ``moto_server`` (from moto[server]),
one per test session (one per xdist worker), with a fresh bucket per test so tests never
see each other's objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamforge.config import Settings
from streamforge.plugins import Registry
from streamforge.storage import StorageBackend
from tests.conftest import make_settings
from tests.s3server import s3_env, unique_bucket

BACKENDS = ["local", "s3"]


def build_storage(settings: Settings) -> StorageBackend:
    """The configured backend, built the way the server builds it (through the plugins)."""
    backend: StorageBackend = Registry.build(settings).storage()
    return backend


@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[StorageBackend]:
    """A checked backend that is closed afterwards."""
    backend = build_storage(settings)
    try:
        await backend.check()
        yield backend
    finally:
        await backend.close()


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def storage_settings(backend_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend_name == "local":
        return make_settings(tmp_path)
    endpoint: str = request.getfixturevalue("moto_url")
    return make_settings(tmp_path, **s3_env(endpoint, unique_bucket(), create_bucket="true"))


@pytest.fixture
async def storage(storage_settings: Settings) -> AsyncIterator[StorageBackend]:
    async with opened(storage_settings) as backend:
        yield backend


@pytest.fixture
async def s3_storage(moto_url: str, tmp_path: Path) -> AsyncIterator[StorageBackend]:
    settings = make_settings(tmp_path, **s3_env(moto_url, unique_bucket(), create_bucket="true"))
    async with opened(settings) as backend:
        yield backend


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    """Every byte of an async stream."""
    return b"".join([chunk async for chunk in chunks])
