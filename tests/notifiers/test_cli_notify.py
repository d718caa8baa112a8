"""The real CLI: ``add --wait`` delivers notifications, and neither ``add`` nor ``serve``
waits long for a delivery that hangs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamforge_webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

from streamforge.config import load_settings
from streamforge.db.models import OutboxState
from streamforge.library.delivery import STOP_GRACE
from streamforge.runtime import Runtime
from tests.authn import ensure_admin
from tests.e2e.cli import write_config
from tests.mediagen import make_clip
from tests.notifiers.conftest import outbox_rows
from tests.notifiers.receiver import Receiver

SECRET = "s3cret"


async def run_cli(config: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``streamforge --config config args``; its stderr, after checking it succeeded."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamforge",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


async def outbox_of(config: Path) -> list[tuple[str, OutboxState, str | None]]:
    rt = await Runtime.create(load_settings(config, environ={})).open()
    try:
        return [(r.event_type, r.state, r.last_error) for r in await outbox_rows(rt)]
    finally:
        await rt.close()


def webhook_table(url: str) -> str:
    return (
        f'[notifiers]\nenabled = ["webhook"]\ntimeout = 2\n\n'
        f'[notifiers.webhook]\nurl = "{url}"\nsecret = "{SECRET}"\nallow_private = true\n'
    )


async def test_add_wait_delivers_uploaded_and_ready(tmp_path: Path, receiver: Receiver) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=1.0)
    config = write_config(tmp_path, webhook_table(f"{receiver.url}/hook"))
    output = await run_cli(config, "add", "--wait", str(clip))
    video_id = output.splitlines()[0]
    # delivered before `add` exited, each once and signed
    kinds = [json.loads(r.body)["type"] for r in receiver.requests]
    assert sorted(kinds) == ["video.ready", "video.uploaded"]
    for request in receiver.requests:
        assert json.loads(request.body)["video_id"] == video_id
        headers = request.headers
        assert verify(SECRET, headers[TIMESTAMP_HEADER], request.body, headers[SIGNATURE_HEADER])
    assert {state for _, state, _ in await outbox_of(config)} == {OutboxState.DELIVERED}


async def test_add_wait_does_not_hang_on_a_silent_receiver(
    tmp_path: Path, silent_server: tuple[int, asyncio.Event]
) -> None:
    port, _ = silent_server
    clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=1.0)
    config = write_config(tmp_path, webhook_table(f"http://127.0.0.1:{port}/"))
    started = time.monotonic()
    output = await run_cli(config, "add", "--wait", str(clip))
    took = time.monotonic() - started
    assert ": ready" in output
    # each delivery is cut off after [notifiers] timeout (2 s), and left for a later retry
    assert took < 30
    rows = await outbox_of(config)
    assert sorted(kind for kind, _, _ in rows) == ["video.ready", "video.uploaded"]
    assert {state for _, state, _ in rows} == {OutboxState.PENDING}


@pytest.mark.parametrize("notifier", ["webhook", "email"])
async def test_serve_stops_promptly_while_a_delivery_hangs(
    tmp_path: Path, silent_server: tuple[int, asyncio.Event], notifier: str
) -> None:
    port, connected = silent_server
    if notifier == "webhook":
        table = f'[notifiers.webhook]\nurl = "http://127.0.0.1:{port}/"\nallow_private = true\n'
    else:
        table = (
            f'[notifiers.email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'from = "a@example.org"\nto = ["b@example.org"]\nevents = ["video.deleted"]\n'
        )
    # long timeouts: only cancelling the delivery can make serve stop in time
    config = write_config(
        tmp_path,
        f'[notifiers]\nenabled = ["{notifier}"]\ntimeout = 60\n\n{table}timeout = 60\n',
    )
    clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=1.0)
    quiet = {"STREAMFORGE_NOTIFIERS__ENABLED": "[]"}
    video_id = (await run_cli(config, "add", str(clip), env=quiet)).splitlines()[0]
    admin = {"Authorization": f"Bearer {ensure_admin(config)}"}

    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "streamforge", "--config", str(config), "serve"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = b""
        while b"StreamForge is running at " not in line:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, "serve exited before it was running"
        url = line.decode().split("StreamForge is running at ", 1)[1].strip()
        request = urllib.request.Request(
            f"{url}/api/v1/videos/{video_id}", method="DELETE", headers=admin
        )
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=30) as response:
            assert response.status == 200
        await asyncio.wait_for(connected.wait(), 30)  # a delivery is now stuck in flight
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output = await asyncio.wait_for(proc.stdout.read(), 30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, output.decode()
        took = time.monotonic() - stopping
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # the delivery under way gets STOP_GRACE seconds, then it is cut off (not 60 s)
    assert took < STOP_GRACE + 4, f"serve took {took:.1f} s to stop"
