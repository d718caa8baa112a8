"""The container entrypoint (``python -m streamforge.container``), run as the image runs it:
it waits for PostgreSQL and Redis, migrates, then execs ``streamforge``; a service that
never answers ends it with one clear line and a non-zero status, no password shown."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from streamforge.db.session import Database

SECRET = "pw-never-shown"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def entrypoint(
    tmp_path: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    # only what a container gets: no STREAMFORGE_* from the test's own environment
    base = {k: v for k, v in os.environ.items() if not k.startswith("STREAMFORGE_")}
    for name in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT"):
        base.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "streamforge.container", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env={**base, "STREAMFORGE_SERVER__DATA_DIR": str(tmp_path / "data"), **env},
    )


async def tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.read() as s:
            rows = await s.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
            return set(rows.scalars())
    finally:
        await db.close()


def test_waits_migrates_then_execs_the_command(
    tmp_path: Path, postgresql_url: str, redis_url: str
) -> None:
    assert "jobs" not in asyncio.run(tables(postgresql_url))
    done = entrypoint(
        tmp_path, "worker", "--help", DATABASE_URL=postgresql_url, REDIS_URL=redis_url
    )
    assert done.returncode == 0, done.stderr
    assert "database schema is up to date" in done.stderr
    assert "Usage: streamforge worker" in done.stdout  # what was exec'd: the real CLI
    assert {"videos", "jobs", "alembic_version"} <= asyncio.run(tables(postgresql_url))


def test_a_closed_database_port_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://streamforge:{SECRET}@127.0.0.1:{closed_port()}/streamforge"
    started = time.monotonic()
    done = entrypoint(tmp_path, "serve", DATABASE_URL=url, STREAMFORGE_WAIT_TIMEOUT="2")
    took = time.monotonic() - started
    assert done.returncode == 1
    assert "waiting for the database at postgresql+asyncpg://streamforge:***@" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("streamforge-entrypoint: error: the database at ")
    assert "did not answer in time (STREAMFORGE_WAIT_TIMEOUT)" in last
    assert SECRET not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert took < 60


def test_a_closed_broker_port_is_a_clear_error(tmp_path: Path) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0"
    done = entrypoint(tmp_path, "worker", REDIS_URL=url, STREAMFORGE_WAIT_TIMEOUT="1")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("streamforge-entrypoint: error: the broker at redis://:***@127.0.0.1:")
    assert SECRET not in done.stderr
    assert "schema" not in done.stderr  # nothing is migrated before every service answers


def test_other_commands_run_without_waiting(tmp_path: Path) -> None:
    # a broker nobody answers: `--version` and `sh` must not wait for it
    url = f"redis://127.0.0.1:{closed_port()}/0"
    version = entrypoint(tmp_path, "--version", REDIS_URL=url, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("streamforge, version ")
    shell = entrypoint(tmp_path, "sh", "-c", "echo from a shell", REDIS_URL=url, timeout=60)
    assert (shell.returncode, shell.stdout) == (0, "from a shell\n")


def test_a_bad_wait_timeout_is_named(tmp_path: Path) -> None:
    done = entrypoint(tmp_path, "serve", STREAMFORGE_WAIT_TIMEOUT="soon", timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "streamforge-entrypoint: error: STREAMFORGE_WAIT_TIMEOUT: expected a number of "
        "seconds, found 'soon'"
    )
