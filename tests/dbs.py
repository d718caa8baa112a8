"""Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test.

``database_url`` is parametrized over :data:`BACKENDS`, so a test (or a module's ``db``
fixture) that asks for it runs once on each. Each PostgreSQL database is created for one
test and dropped after it (``sf_<random>``), so tests in parallel (xdist) never share one.
PostgreSQL is found at ``$STREAMFORGE_TEST_POSTGRES`` (an admin URL; default: the local
server as ``postgres``); when it is missing the test is skipped, and fails under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from streamforge.db.models import Video, VideoStatus
from streamforge.db.session import Database
from streamforge.jobs import store

BACKENDS = ["sqlite", "postgresql"]
ADMIN_URL = os.environ.get(
    "STREAMFORGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin(*statements: str) -> None:
    """Run ``statements`` on the PostgreSQL server as its administrator."""

    async def go() -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    # a thread of its own: the caller may be inside an event loop
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for the block; its ``postgresql+asyncpg`` URL."""
    from tests.conftest import need_service  # (conftest imports this module)

    name = f"sf_{uuid.uuid4().hex[:16]}"
    try:
        _admin(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
    except (OSError, asyncpg.PostgresError) as exc:
        need_service("PostgreSQL", False, f"{ADMIN_URL}: {exc}")
    base = ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        # FORCE: a test that failed may have left connections open
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database (created for this test, dropped after it)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend in turn: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'streamforge.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A real, migrated database: a SQLite file, then PostgreSQL."""
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()


async def everything_stored(db: Database) -> bytes:
    """All that ``db`` holds, to search for what must never be stored: the SQLite file's
    bytes, or on PostgreSQL every row of every table as text."""
    if db.is_sqlite:
        path = make_url(db.url).database
        assert path is not None
        return Path(path).read_bytes()
    async with db.read() as s:
        tables = (
            await s.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ).scalars()
        dumped = []
        for name in list(tables):
            rows = f"SELECT coalesce(string_agg(t::text, ''), '') FROM \"{name}\" t"
            dumped.append((await s.execute(text(rows))).scalar_one())
    return "".join(dumped).encode()


async def new_job(db: Database, max_attempts: int = 3) -> str:
    """A queued video ``vid1`` and its transcode job; the job's id."""
    async with db.session() as s:
        s.add(Video(id="vid1", title="t", status=VideoStatus.QUEUED))
        await s.flush()
        job = await store.create_job(s, "vid1", max_attempts=max_attempts)
        return job.id
