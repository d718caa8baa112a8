"""The webhook notifier against a real HTTP receiver: signing, retries, SSRF refusals."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
from streamforge_webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify

from streamforge.db.models import OutboxState
from streamforge.errors import ConfigError
from streamforge.events import make_event, stable_event_id
from streamforge.library.delivery import Dispatcher
from streamforge.library.notify import announce
from streamforge.runtime import Runtime
from tests.conftest import make_settings
from tests.notifiers.conftest import StartReceiver, open_runtime, outbox_rows, webhook_env
from tests.notifiers.receiver import Receiver, Reply

SECRET = "correct horse battery staple"


def ready_event(video_id: str = "vid00000001") -> dict[str, object]:
    video = {"id": video_id, "title": "Holiday", "status": "ready"}
    event_id = stable_event_id("video.ready", video_id)
    return make_event("video.ready", video_id, event_id=event_id, video=video)


async def test_signed_json_post_verifies_with_the_secret(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = webhook_env(f"{receiver.url}/hook", secret=SECRET, allow_private="true")
    async with open_runtime(tmp_path, **env) as rt:
        event = ready_event()
        await announce(rt, event)
        assert await Dispatcher(rt).run_once() == 1
        request = receiver.requests[0]
        assert (request.method, request.path) == ("POST", "/hook")
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-StreamForge-Event"] == "video.ready"
        assert request.headers["X-StreamForge-Event-Id"] == event["id"]
        body = json.loads(request.body)
        assert body["video"]["title"] == "Holiday"
        assert body["url"] == f"{rt.settings.listen_url}/v/vid00000001"
        timestamp = request.headers[TIMESTAMP_HEADER]
        assert abs(int(timestamp) - time.time()) < 60
        signature = request.headers[SIGNATURE_HEADER]
        assert signature.startswith("sha256=")
        assert verify(SECRET, timestamp, request.body, signature)
        # what a receiver must refuse: another secret, a changed body, a replayed timestamp
        assert not verify("wrong secret", timestamp, request.body, signature)
        assert not verify(SECRET, timestamp, request.body + b" ", signature)
        old = str(int(timestamp) - 3600)
        assert not verify(SECRET, old, request.body, sign(SECRET, old, request.body))
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts, row.last_error) == (OutboxState.DELIVERED, 1, None)


async def test_retries_on_500_then_succeeds(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reply(Reply(500, body="database on fire"), Reply(503))
    async with open_runtime(tmp_path, **webhook_env(receiver.url, allow_private="true")) as rt:
        event = ready_event()
        await announce(rt, event)
        assert await Dispatcher(rt).run_once() == 3  # backoff 0: retried in the same pass
        assert len(receiver.requests) == 3
        assert {r.headers["X-StreamForge-Event-Id"] for r in receiver.requests} == {event["id"]}
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts, row.last_error) == (OutboxState.DELIVERED, 3, None)


async def test_gives_up_after_the_configured_attempts(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reply(*[Reply(500, body="database on fire")] * 10)
    env = webhook_env(receiver.url, allow_private="true")
    async with open_runtime(tmp_path, STREAMFORGE_NOTIFIERS__MAX_ATTEMPTS="3", **env) as rt:
        await announce(rt, ready_event())
        assert await Dispatcher(rt).run_once() == 3
        assert await Dispatcher(rt).run_once() == 0  # failed for good: never tried again
        assert len(receiver.requests) == 3
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts) == (OutboxState.FAILED, 3)
        assert row.last_error == f"{receiver.url} answered HTTP 500: database on fire"
        assert row.finished_at is not None


@pytest.mark.parametrize(("status", "retried"), [(404, False), (401, False), (429, True)])
async def test_client_errors_fail_fast_except_429(
    tmp_path: Path, receiver: Receiver, status: int, retried: bool
) -> None:
    receiver.reply(Reply(status))
    async with open_runtime(tmp_path, **webhook_env(receiver.url, allow_private="true")) as rt:
        await announce(rt, ready_event())
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        if retried:
            assert (row.state, row.attempts) == (OutboxState.DELIVERED, 2)
        else:
            assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
            assert f"answered HTTP {status}" in (row.last_error or "")


async def test_timeout_is_retried(tmp_path: Path) -> None:
    # a server that accepts the connection and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        env = webhook_env(url, allow_private="true", timeout="0.2")
        async with open_runtime(tmp_path, STREAMFORGE_NOTIFIERS__MAX_ATTEMPTS="2", **env) as rt:
            await announce(rt, ready_event())
            await Dispatcher(rt).run_once()
            [row] = await outbox_rows(rt)
            assert (row.state, row.attempts) == (OutboxState.FAILED, 2)
            assert row.last_error == "127.0.0.1: timed out"


async def refused(rt: Runtime) -> str:
    """Run one dispatch; the delivery must be refused at once, and say why."""
    await announce(rt, ready_event())
    assert await Dispatcher(rt).run_once() == 1  # refused targets are not retried
    [row] = await outbox_rows(rt)
    assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
    assert row.last_error is not None
    return row.last_error


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.1:{port}/", "refused to connect to 127.0.0.1: loopback address"),
        ("http://[::1]:{port}/", "refused to connect to ::1: loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "to ::ffff:7f00:1 = 127.0.0.1: loopback address"),
        ("http://localhost:{port}/", "refused to connect to localhost (127.0.0.1): loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata service)"),
        ("http://10.0.0.1/", "refused to connect to 10.0.0.1: private address"),
        ("http://192.168.1.1/", "refused to connect to 192.168.1.1: private address"),
        ("http://[fd00::1]/", "refused to connect to fd00::1: unique-local address"),
        ("http://[fe80::1]/", "refused to connect to fe80::1: link-local address"),
        ("http://224.0.0.1/", "refused to connect to 224.0.0.1: multicast address"),
        # spellings of 127.0.0.1 that some resolvers accept
        ("http://0x7f000001:{port}/", "to 0x7f000001 (127.0.0.1): loopback address"),
        ("http://2130706433:{port}/", "'2130706433' is not an IP address"),
        ("http://127.1:{port}/", "'127.1' is not an IP address"),
        ("http://0.0.0.0:{port}/", "refused to connect to 0.0.0.0: unspecified address"),
    ],
)
async def test_private_targets_are_refused_with_a_reason(
    tmp_path: Path, receivers: StartReceiver, target: str, reason: str
) -> None:
    # a live receiver on loopback (v4 and v6): were a check missing, delivery would succeed
    v4 = await receivers("127.0.0.1")
    url = target.format(port=v4.port)
    if "[::1]" in target:
        url = target.format(port=(await receivers("::1")).port)
    async with open_runtime(tmp_path, **webhook_env(url)) as rt:
        assert reason in await refused(rt)
    assert v4.requests == []


async def test_allow_private_opens_loopback(tmp_path: Path, receiver: Receiver) -> None:
    async with open_runtime(tmp_path, **webhook_env(receiver.url, allow_private="true")) as rt:
        await announce(rt, ready_event())
        await Dispatcher(rt).run_once()
        assert len(receiver.requests) == 1


async def test_allow_private_never_opens_the_metadata_service(tmp_path: Path) -> None:
    env = webhook_env("http://169.254.169.254/latest/meta-data/", allow_private="true")
    async with open_runtime(tmp_path, **env) as rt:
        assert "link-local (cloud metadata service)" in await refused(rt)


@pytest.mark.parametrize("redirect_host", ["127.0.0.1", "localhost"])
async def test_redirect_to_a_refused_target_is_not_followed(
    tmp_path: Path, receivers: StartReceiver, redirect_host: str
) -> None:
    # The "public" receiver is 127.0.0.2, allowed by exactly its /32; the redirect target
    # is another loopback address (or name) that the allowlist does not cover.
    allowed = await receivers("127.0.0.2")
    inside = await receivers("127.0.0.1")
    allowed.reply(Reply(307, headers={"Location": f"http://{redirect_host}:{inside.port}/x"}))
    env = webhook_env(f"{allowed.url}/hook", allow='["127.0.0.2/32"]')
    async with open_runtime(tmp_path, **env) as rt:
        reason = await refused(rt)
    assert "refused to connect to" in reason
    assert "127.0.0.1" in reason
    assert "loopback address" in reason
    assert len(allowed.requests) == 1
    assert inside.requests == []


async def test_allowed_redirect_is_followed_with_the_same_signed_post(
    tmp_path: Path, receivers: StartReceiver
) -> None:
    allowed = await receivers("127.0.0.2")
    allowed.reply(Reply(308, headers={"Location": "/moved"}))
    env = webhook_env(f"{allowed.url}/hook", allow='["127.0.0.2/32"]', secret=SECRET)
    async with open_runtime(tmp_path, **env) as rt:
        await announce(rt, ready_event())
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.DELIVERED
    first, moved = allowed.requests
    assert (moved.method, moved.path, moved.body) == ("POST", "/moved", first.body)
    assert verify(
        SECRET, moved.headers[TIMESTAMP_HEADER], moved.body, moved.headers[SIGNATURE_HEADER]
    )


async def test_redirect_loop_gives_up(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reply(*[Reply(302, headers={"Location": "/again"})] * 20)
    async with open_runtime(tmp_path, **webhook_env(receiver.url, allow_private="true")) as rt:
        assert "more than 5 redirects" in await refused(rt)
    assert len(receiver.requests) == 6


def test_config_mistakes_are_clear(tmp_path: Path) -> None:
    from streamforge.plugins import Registry

    for keys, message in [
        ({"url": "ftp://example.org/"}, "[notifiers.webhook] url: must be an http:// or https://"),
        ({"url": "https://a.example", "allow": '["10.0.0.0/33"]'}, "is not an IP network"),
        ({"url": "https://a.example", "events": '["video.progress"]'}, "not a lifecycle event"),
    ]:
        settings = make_settings(tmp_path, **webhook_env(**keys))
        with pytest.raises(ConfigError, match=re.escape(message)):
            Registry.build(settings).notifier_instances()


def test_secret_is_never_shown(tmp_path: Path) -> None:
    from streamforge.plugins import Registry

    settings = make_settings(tmp_path, **webhook_env("https://a.example/", secret=SECRET))
    [notifier] = Registry.build(settings).notifier_instances()
    assert SECRET not in repr(notifier.config)
    assert SECRET not in str(notifier.config.model_dump())
