"""Liveness and readiness: ``/api/v1/health`` answers while the process runs; ``/api/v1/ready``
is 200 only when the database, the broker and the storage all answer, else 503 naming what
failed, and never shows a URL, password or path to its anonymous callers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from streamforge.app import create_app
from streamforge.config import Settings
from streamforge.db.session import Database
from streamforge.events import LocalEventBus
from streamforge.plugins import Registry
from streamforge.runtime import Runtime
from streamforge.web.health import Readiness
from streamforge.web.state import AppState
from tests.conftest import make_settings

SECRET = "s3cret-pass"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Quart]:
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        yield app
        state: AppState = app.extensions["streamforge"]
        assert state.runtime is not None
        await state.runtime.events.close()  # (a Redis bus thread of its own; unique channel)


def with_namespace(tmp_path: Path, **env: str) -> Settings:
    # a channel and queues of this test's own
    return make_settings(tmp_path, STREAMFORGE_BROKER__NAMESPACE=f"t{uuid.uuid4().hex[:12]}", **env)


async def ready(app: Quart) -> tuple[int, dict[str, Any], str]:
    response = await app.test_client().get("/api/v1/ready")  # anonymous
    text = (await response.get_data()).decode()
    return response.status_code, await response.get_json(), text


async def test_liveness_and_readiness_answer_anonymous_callers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_AUTH__PUBLIC_LIBRARY="false")
    async with serving(settings) as app:
        live = await app.test_client().get("/api/v1/health")
        assert live.status_code == 200
        assert (await live.get_json())["status"] == "ok"
        status, body, _ = await ready(app)
    assert status == 200
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "storage"}
    kinds = {name: check["kind"] for name, check in body["checks"].items()}
    assert kinds == {"database": "sqlite", "broker": "embedded", "storage": "local"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["error"] is None
        assert 0 <= check["seconds"] < 3


async def test_ready_with_redis_and_postgresql(
    tmp_path: Path, redis_url: str, postgresql_url: str
) -> None:
    settings = with_namespace(
        tmp_path, STREAMFORGE_BROKER__URL=redis_url, STREAMFORGE_DATABASE__URL=postgresql_url
    )
    async with serving(settings) as app:
        status, body, _ = await ready(app)
    assert status == 200, body
    assert body["checks"]["broker"] == {**body["checks"]["broker"], "ok": True, "kind": "redis"}
    assert body["checks"]["database"]["kind"] == "postgresql"


async def test_not_ready_when_redis_is_a_closed_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0"
    settings = with_namespace(tmp_path, STREAMFORGE_BROKER__URL=url)
    async with serving(settings) as app:
        status, body, text = await ready(app)
    assert status == 503
    assert body["status"] == "not ready"
    broker = body["checks"]["broker"]
    assert broker["ok"] is False
    assert broker["kind"] == "redis"
    assert broker["error"].startswith("no answer from the broker (")
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    # the anonymous body names no host, port or password; the log says what failed
    assert SECRET not in text
    assert "127.0.0.1" not in text
    assert str(settings.data_dir) not in text
    logged = [r.getMessage() for r in caplog.records if r.name == "streamforge.web.health"]
    assert any("readiness: broker (redis) failed" in m for m in logged), logged


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files, also to root (who ignores permission bits)."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode == 0:  # immutable: not even root may add a file
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    # no CAP_LINUX_IMMUTABLE (a container): a file where the folder was refuses writes too
    hidden = folder.with_name(folder.name + ".moved")
    folder.rename(hidden)
    folder.write_text("not a folder")
    try:
        yield
    finally:
        folder.unlink()
        hidden.rename(folder)


async def test_not_ready_when_the_storage_folder_is_unwritable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with serving(settings) as app:
        root = settings.data_dir / "media"
        with unwritable(root / ".tmp"), unwritable(root):
            status, body, text = await ready(app)
            await asyncio.sleep(0)
        assert status == 503
        storage = body["checks"]["storage"]
        assert storage == {**storage, "ok": False, "kind": "local"}
        assert storage["error"].startswith("the storage check failed (")
        assert str(root) not in text
        assert body["checks"]["database"]["ok"] is True
        # writable again: ready again (after the short cache)
        readiness: Readiness = app.extensions["streamforge.readiness"]
        readiness.answer = None
        status, body, _ = await ready(app)
        assert status == 200, body


def bare_runtime(settings: Settings) -> Runtime:
    """A runtime without an event bus connection: only what the checks use."""
    return Runtime(
        settings=settings,
        registry=Registry.build(settings),
        db=Database(settings.database_url),
        storage=Registry.build(settings).storage(),
        events=LocalEventBus(),
    )


async def test_a_check_that_hangs_fails_after_its_time_limit(tmp_path: Path) -> None:
    # a socket that takes connections (the kernel's backlog) and never says a word
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = make_settings(tmp_path, STREAMFORGE_BROKER__URL=f"redis://127.0.0.1:{port}/0")
        rt = bare_runtime(settings)
        try:
            answer = await Readiness(timeout=0.5).check(rt)
        finally:
            await rt.close()
    assert answer.status == "not ready"
    assert answer.checks["broker"].error == "no answer within 0.5 s"
    assert 0.4 < answer.checks["broker"].seconds < 3
    assert answer.checks["database"].ok


async def test_not_ready_when_postgresql_is_a_closed_port(tmp_path: Path) -> None:
    url = f"postgresql://streamforge:{SECRET}@127.0.0.1:{closed_port()}/streamforge"
    rt = bare_runtime(make_settings(tmp_path, STREAMFORGE_DATABASE__URL=url))
    try:
        answer = await Readiness().check(rt)
    finally:
        await rt.close()
    database = answer.checks["database"]
    assert (database.ok, database.kind) == (False, "postgresql")
    assert database.error is not None
    assert database.error.startswith("no answer to a query (")
    assert SECRET not in answer.model_dump_json()


async def test_probes_arriving_together_share_one_round_of_checks(tmp_path: Path) -> None:
    rt = bare_runtime(make_settings(tmp_path))
    calls = 0
    check = rt.storage.check

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await check()

    rt.storage.check = counted  # type: ignore[method-assign]
    readiness = Readiness()
    try:
        answers = await asyncio.gather(*(readiness.check(rt) for _ in range(5)))
    finally:
        await rt.close()
    assert calls == 1
    assert all(a is answers[0] for a in answers)
