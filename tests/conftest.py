"""Shared fixtures: settings in a temp folder, the real app with its test client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from quart import Quart
from quart.typing import TestClientProtocol

from streamforge.config import Settings, load_settings

if TYPE_CHECKING:
    from streamforge.runtime import Runtime
    from streamforge.web.state import AppState

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings with the data folder in ``tmp_path`` and ``env`` as STREAMFORGE_* overrides."""
    environ = {"STREAMFORGE_SERVER__DATA_DIR": str(tmp_path / "data"), **env}
    return load_settings(None, environ=environ)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    from streamforge.app import create_app

    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        yield app


@pytest.fixture
async def client(app: Quart) -> TestClientProtocol:
    """The test client of an administrator (an API token on every request): for tests of
    what the app does, not of who may do it (tests/web/test_permissions.py)."""
    from tests.authn import bearer_client, make_account

    state: AppState = app.extensions["streamforge"]
    assert state.runtime is not None
    _, token = await make_account(state.runtime.db)
    return bearer_client(app, token)


@pytest.fixture
def anon(app: Quart) -> TestClientProtocol:
    """The test client of a visitor who is not logged in."""
    return app.test_client()


@pytest.fixture
def rt(app: Quart) -> Runtime:
    state: AppState = app.extensions["streamforge"]
    assert state.runtime is not None
    return state.runtime


REDIS = os.environ.get("STREAMFORGE_TEST_REDIS", "127.0.0.1:6379")


@pytest.fixture
def redis_url() -> str:
    """The real Redis, database 0 (tests keep to key namespaces of their own)."""
    url = f"redis://{REDIS}/0"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        need_service("Redis", False, exc)
    return url


def worker_redis_url(worker_id: str) -> str:
    """The real Redis, in a database of this xdist worker's own (1 + its number), so tests
    running in parallel never share queues; checked to answer."""
    index = 1 + (int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0)
    url = f"redis://{REDIS}/{index}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        need_service("Redis", False, exc)
    finally:
        client.close()
    return url


def need_service(name: str, available: bool, why: Any = "") -> None:
    """Skip locally when a service is missing; in CI (CI=true) fail instead."""
    if available:
        return
    message = f"{name} is not available: {why}"
    if IN_CI:
        pytest.fail(f"{message} (CI must run every service-backed test)")
    pytest.skip(message)


ALLOWED_SKIP_PREFIX = "no GPU"
_bad_skips: list[str] = []


def pytest_runtest_logreport(report: Any) -> None:
    """In CI a skipped test is a failure, except hardware tests that say "no GPU"."""
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not reason.removeprefix("Skipped: ").startswith(ALLOWED_SKIP_PREFIX):
            _bad_skips.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if _bad_skips and not hasattr(session.config, "workerinput"):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("CI: skipped tests are not allowed in CI:", red=True)
            for line in _bad_skips:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = 1


# Shared fixtures for every test folder: headless Chromium through Playwright, a real
# S3-compatible server (moto_server), and fresh databases on SQLite and PostgreSQL.
from tests.chromium import browser, playwright  # noqa: E402, F401
from tests.dbs import database_url, db, postgresql_url  # noqa: E402, F401
from tests.s3server import moto_url  # noqa: E402, F401
