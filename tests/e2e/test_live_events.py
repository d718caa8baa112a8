"""Live events across processes over the real Redis, into WebSocket clients of `serve`."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import wsproto
import wsproto.events

from streamforge.events import RedisEventBus, make_event
from tests.e2e.cli import cli, running_server, write_config
from tests.e2e.test_redis_mode import redis_url  # noqa: F401  (fixture)
from tests.mediagen import make_clip
from tests.web.helpers import add_ready_video_to

pytestmark = pytest.mark.slow


def redis_config(tmp_path: Path, url: str) -> tuple[Path, str]:
    namespace = f"sf-test-{uuid.uuid4().hex[:12]}"
    extra = f'[broker]\nurl = "{url}"\nnamespace = "{namespace}"\n'
    return write_config(tmp_path, extra), namespace


async def next_event(ws: aiohttp.ClientWebSocketResponse, within: float = 60) -> dict[str, Any]:
    message = await ws.receive(within)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    event: dict[str, Any] = json.loads(message.data)
    return event


async def test_a_workers_events_reach_a_websocket_client_of_the_web_process(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    config, _ = redis_config(tmp_path, redis_url)
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, seconds=2.0)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamforge",
        "--config",
        str(config),
        "worker",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with running_server(config) as server:
            ws_url = server.url.replace("http://", "ws://") + "/api/v1/events"
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
                await ws.send_json({"type": "subscribe"})
                added = await asyncio.to_thread(cli, config, "add", str(clip))
                assert added.returncode == 0, added.stderr
                video_id = added.stdout.strip()
                seen: list[str] = []
                while "video.ready" not in seen:
                    event = await next_event(ws, within=120)
                    if event.get("video_id") == video_id:
                        seen.append(event["type"])
                        assert {"id", "time", "type", "video_id"} <= set(event)
                # the worker process announced these; the web process only relayed them
                assert "video.processing" in seen
                assert "video.progress" in seen
                assert seen.index("video.processing") < seen.index("video.ready")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode == 0, out.decode()


def open_raw_websocket(url: str) -> tuple[socket.socket, wsproto.WSConnection]:
    """A client that does the handshake and then reads only when the test says so."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # small, and set before connecting: set later, the TCP window never reopens
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect((host, int(port)))
    conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    sock.sendall(conn.send(wsproto.events.Request(host=f"{host}:{port}", target="/api/v1/events")))
    while True:
        conn.receive_data(sock.recv(65536))
        for event in conn.events():
            if isinstance(event, wsproto.events.AcceptConnection):
                return sock, conn
            raise AssertionError(f"handshake refused: {event}")


def read_until_closed(sock: socket.socket, conn: wsproto.WSConnection, limit: float) -> int | None:
    """Read everything the server sent; the close code, or None if it never closed."""
    sock.settimeout(limit)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        data = sock.recv(1 << 20)
        conn.receive_data(data or None)
        for event in conn.events():
            if isinstance(event, wsproto.events.CloseConnection):
                return event.code
        if not data:
            return None
    return None


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_up(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    config, namespace = redis_config(tmp_path, redis_url)
    await add_ready_video_to(config, "slowreader1")  # events of unknown videos are not sent
    bus = RedisEventBus(redis_url, channel=f"{namespace}:events")
    # ~12 MB: more than the kernel's socket buffers hold, so the server's sends block
    count, padding = 3000, "x" * 4000
    try:
        with running_server(config) as server:
            slow, slow_conn = open_raw_websocket(server.url)
            ws_url = server.url.replace("http://", "ws://") + "/api/v1/events"
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
                await ws.send_json({"type": "subscribe"})
                # the subscribe's (empty) snapshot is sent; make sure both are listening
                bus.publish(make_event("video.progress", "slowreader1", percent=0.0, warmup=True))
                assert (await next_event(ws)).get("warmup") is True
                started = time.monotonic()
                for i in range(count):
                    bus.publish(make_event("video.progress", "slowreader1", seq=i, pad=padding))
                received = 0
                while received < count:
                    event = await next_event(ws, within=30)
                    received += event["type"] == "video.progress"
                fast_seconds = time.monotonic() - started
            code = await asyncio.to_thread(read_until_closed, slow, slow_conn, 30)
            slow.close()
            assert code == 1013  # "try again later": the server dropped the slow reader
            status, _, _ = server.get("/api/v1/health")
            assert status == 200
    finally:
        bus.stop()
    assert received == count
    assert fast_seconds < 30, f"the reading client took {fast_seconds:.1f} s"
