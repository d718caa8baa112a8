"""Fixtures for notifier tests: real HTTP receivers and runtimes with notifiers enabled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from streamforge.db.models import Notification
from streamforge.runtime import Runtime
from tests.conftest import make_settings
from tests.notifiers.receiver import Receiver

StartReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receivers() -> AsyncIterator[StartReceiver]:
    """Start HTTP receivers (``await receivers("127.0.0.2")``); all stop after the test."""
    started: list[Receiver] = []

    async def start(host: str = "127.0.0.1") -> Receiver:
        receiver = await Receiver(host).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def receiver(receivers: StartReceiver) -> Receiver:
    return await receivers()


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP server that accepts connections and never says a word (no HTTP answer, no
    SMTP greeting); the event is set when the first connection arrives."""
    connected = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        connected.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], connected
    for writer in writers:
        writer.close()
    server.close()


@asynccontextmanager
async def open_runtime(tmp_path: Path, **env: str) -> AsyncIterator[Runtime]:
    """A runtime whose failed deliveries are retried at once (``retry_backoff = 0`` unless
    ``env`` says otherwise)."""
    settings = make_settings(tmp_path, **{"STREAMFORGE_NOTIFIERS__RETRY_BACKOFF": "0", **env})
    rt = await Runtime.create(settings).open()
    try:
        yield rt
    finally:
        await rt.close()


def webhook_env(url: str, **keys: str) -> dict[str, str]:
    """Settings overrides enabling only the webhook notifier, posting to ``url``."""
    env = {
        "STREAMFORGE_NOTIFIERS__ENABLED": '["webhook"]',
        "STREAMFORGE_NOTIFIERS__WEBHOOK__URL": url,
    }
    env.update({f"STREAMFORGE_NOTIFIERS__WEBHOOK__{k.upper()}": v for k, v in keys.items()})
    return env


async def outbox_rows(rt: Runtime) -> list[Notification]:
    async with rt.db.session() as s:  # (read() rolls back, expiring what it loaded)
        return list((await s.execute(select(Notification).order_by(Notification.id))).scalars())
