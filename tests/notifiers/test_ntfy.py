"""The ntfy notifier against a local receiver standing in for an ntfy server."""

from __future__ import annotations

from email.header import decode_header, make_header
from pathlib import Path

from streamforge.db.models import OutboxState
from streamforge.events import make_event
from streamforge.library.delivery import Dispatcher
from streamforge.library.notify import announce
from tests.notifiers.conftest import open_runtime, outbox_rows
from tests.notifiers.receiver import Receiver

TOKEN = "tk_secret0123456789"


def ntfy_env(server: str, **keys: str) -> dict[str, str]:
    env = {
        "STREAMFORGE_NOTIFIERS__ENABLED": '["ntfy"]',
        "STREAMFORGE_SERVER__PUBLIC_URL": "https://video.example.org",
        "STREAMFORGE_NOTIFIERS__NTFY__SERVER": server,
        "STREAMFORGE_NOTIFIERS__NTFY__TOPIC": "family-videos",
    }
    env.update({f"STREAMFORGE_NOTIFIERS__NTFY__{k.upper()}": v for k, v in keys.items()})
    return env


async def test_ready_video_is_pushed_with_its_headers(tmp_path: Path, receiver: Receiver) -> None:
    # no allow_private here: ntfy allows LAN (and loopback) servers by default
    env = ntfy_env(f"{receiver.url}/", token=TOKEN, tags='["home"]')
    async with open_runtime(tmp_path, **env) as rt:
        video = {"id": "vid00000001", "title": "Zoë's birthday 🎂"}
        await announce(rt, make_event("video.ready", "vid00000001", video=video))
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.DELIVERED, row.last_error
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/family-videos")
    assert str(make_header(decode_header(request.headers["Title"]))) == (
        "Video ready: Zoë's birthday 🎂"
    )
    assert request.headers["Priority"] == "3"
    assert request.headers["Tags"] == "white_check_mark,home"
    assert request.headers["Click"] == "https://video.example.org/v/vid00000001"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.body.decode() == "“Zoë's birthday 🎂” is ready to watch."


async def test_final_failure_is_pushed_at_high_priority(tmp_path: Path, receiver: Receiver) -> None:
    async with open_runtime(tmp_path, **ntfy_env(receiver.url)) as rt:
        video = {"id": "vid00000002", "title": "Broken"}
        retry = make_event("video.failed", "vid00000002", error="bad", final=False, video=video)
        final = make_event("video.failed", "vid00000002", error="bad", final=True, video=video)
        await announce(rt, retry)
        await announce(rt, final)
        await Dispatcher(rt).run_once()
    [request] = receiver.requests  # a failure that will be retried is not pushed
    assert request.headers["Title"] == "Video failed: Broken"
    assert request.headers["Priority"] == "4"
    assert request.headers["Tags"] == "warning"
    assert "Authorization" not in request.headers
    assert request.body.decode() == "“Broken” could not be processed: bad."


async def test_metadata_address_is_refused_even_for_ntfy(tmp_path: Path) -> None:
    async with open_runtime(tmp_path, **ntfy_env("http://169.254.169.254")) as rt:
        await announce(rt, make_event("video.ready", "vid00000003"))
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.FAILED
        assert "cloud metadata service" in (row.last_error or "")


async def test_private_servers_can_be_refused(tmp_path: Path, receiver: Receiver) -> None:
    env = ntfy_env(receiver.url, allow_private="false")
    async with open_runtime(tmp_path, **env) as rt:
        await announce(rt, make_event("video.ready", "vid00000004"))
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.FAILED
        assert "loopback address" in (row.last_error or "")
    assert receiver.requests == []
