"""The email notifier against a real SMTP server (aiosmtpd) with a test CA (trustme)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from streamforge.db.models import OutboxState
from streamforge.events import make_event
from streamforge.library.delivery import Dispatcher
from streamforge.library.notify import announce
from tests.notifiers.conftest import open_runtime, outbox_rows

PASSWORD = "hunter2-not-in-logs"


@dataclass
class Mailbox:
    """What the SMTP server received, and how the client reached it."""

    port: int = 0
    messages: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls_on_data: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        # STARTTLS sets session.ssl; implicit TLS shows on the transport
        assert server.transport is not None
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.tls_on_data.append(session.ssl is not None or tls)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password.decode() == PASSWORD, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
async def smtp_server() -> AsyncIterator[Callable[..., Any]]:
    """Start a real SMTP server on 127.0.0.1, on this test's event loop."""
    servers: list[asyncio.Server] = []

    async def start(*, implicit_tls: ssl.SSLContext | None = None, **smtp: Any) -> Mailbox:
        box = Mailbox()
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(box, hostname="mail.test", authenticator=box.authenticate, **smtp),
            "127.0.0.1",
            0,
            ssl=implicit_tls,
        )
        servers.append(server)
        box.port = server.sockets[0].getsockname()[1]
        return box

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def email_env(port: int, **keys: str) -> dict[str, str]:
    env = {
        "STREAMFORGE_NOTIFIERS__ENABLED": '["email"]',
        "STREAMFORGE_SERVER__PUBLIC_URL": "https://video.example.org",
        "STREAMFORGE_NOTIFIERS__EMAIL__HOST": "127.0.0.1",
        "STREAMFORGE_NOTIFIERS__EMAIL__PORT": str(port),
        "STREAMFORGE_NOTIFIERS__EMAIL__FROM": "StreamForge <noreply@example.org>",
        "STREAMFORGE_NOTIFIERS__EMAIL__TO": '["owner@example.org", "friend@example.org"]',
    }
    env.update({f"STREAMFORGE_NOTIFIERS__EMAIL__{k.upper()}": v for k, v in keys.items()})
    return env


def ready(video_id: str = "vid00000001", title: str = "Grand Canyon — day 2") -> dict[str, Any]:
    return make_event("video.ready", video_id, video={"id": video_id, "title": title})


async def test_starttls_login_and_message(
    tmp_path: Path,
    smtp_server: Callable[..., Any],
    ca: trustme.CA,
    ca_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = await smtp_server(tls_context=server_tls(ca), require_starttls=True)
    env = email_env(box.port, ca_file=str(ca_file), username="streamforge", password=PASSWORD)
    caplog.set_level(logging.DEBUG)
    async with open_runtime(tmp_path, **env) as rt:
        event = ready()
        await announce(rt, event)
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.DELIVERED, row.last_error
    assert box.logins == [("streamforge", PASSWORD)]
    assert box.tls_on_data == [True]
    [(envelope, message)] = box.messages
    assert envelope.rcpt_tos == ["owner@example.org", "friend@example.org"]
    assert envelope.mail_from == "noreply@example.org"
    assert message["Subject"] == "[StreamForge] Video ready: Grand Canyon — day 2"
    assert message["X-StreamForge-Event-Id"] == event["id"]
    body = message.get_content()
    assert "“Grand Canyon — day 2” is ready to watch." in body
    assert "Watch it: https://video.example.org/v/vid00000001" in body
    assert PASSWORD not in caplog.text


async def test_implicit_tls(
    tmp_path: Path, smtp_server: Callable[..., Any], ca: trustme.CA, ca_file: Path
) -> None:
    box = await smtp_server(implicit_tls=server_tls(ca))
    env = email_env(box.port, security="tls", ca_file=str(ca_file))
    async with open_runtime(tmp_path, **env) as rt:
        await announce(rt, ready())
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.DELIVERED, row.last_error
    assert box.tls_on_data == [True]


async def test_plain_smtp_to_a_local_relay(tmp_path: Path, smtp_server: Callable[..., Any]) -> None:
    box = await smtp_server()
    async with open_runtime(tmp_path, **email_env(box.port, security="none")) as rt:
        failure = make_event(
            "video.failed",
            "vid00000002",
            error="not a supported video file",
            final=True,
            video={"id": "vid00000002", "title": "Broken"},
        )
        await announce(rt, failure)
        await announce(rt, {**failure, "id": "f" * 32, "final": False})  # a retry follows
        await Dispatcher(rt).run_once()
        assert {r.state for r in await outbox_rows(rt)} == {OutboxState.DELIVERED}
    assert box.tls_on_data == [False]
    [(_, message)] = box.messages  # only the final failure is mailed
    assert message["Subject"] == "[StreamForge] Video failed: Broken"
    assert "could not be processed: not a supported video file." in message.get_content()


async def test_untrusted_certificate_is_refused(
    tmp_path: Path, smtp_server: Callable[..., Any], ca: trustme.CA
) -> None:
    box = await smtp_server(tls_context=server_tls(ca), require_starttls=True)
    async with open_runtime(tmp_path, **email_env(box.port)) as rt:  # system CAs only
        await announce(rt, ready())
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
        assert "certificate" in (row.last_error or "")
    assert box.messages == []


async def test_server_without_starttls_is_not_used_in_clear(
    tmp_path: Path, smtp_server: Callable[..., Any]
) -> None:
    box = await smtp_server()  # offers no STARTTLS
    async with open_runtime(tmp_path, **email_env(box.port)) as rt:
        await announce(rt, ready())
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.FAILED
        assert "STARTTLS" in (row.last_error or "")
    assert box.messages == []


async def test_wrong_password_fails_without_showing_it(
    tmp_path: Path,
    smtp_server: Callable[..., Any],
    ca: trustme.CA,
    ca_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = await smtp_server(tls_context=server_tls(ca), require_starttls=True)
    env = email_env(box.port, ca_file=str(ca_file), username="u", password="wrong-" + PASSWORD)
    caplog.set_level(logging.DEBUG)
    async with open_runtime(tmp_path, **env) as rt:
        await announce(rt, ready())
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
        assert "login refused (535)" in (row.last_error or "")
        assert PASSWORD not in (row.last_error or "")
    assert PASSWORD not in caplog.text


def test_credentials_in_clear_are_a_config_error(tmp_path: Path) -> None:
    from streamforge.errors import ConfigError
    from streamforge.plugins import Registry
    from tests.conftest import make_settings

    env = email_env(25, security="none", username="u", password="p")
    with pytest.raises(ConfigError, match="would send the password in clear"):
        Registry.build(make_settings(tmp_path, **env)).notifier_instances()


async def test_a_silent_server_is_cut_off_and_its_thread_ends(
    tmp_path: Path, silent_server: tuple[int, asyncio.Event]
) -> None:
    port, connected = silent_server  # accepts, never greets
    env = email_env(port, security="none", timeout="30")
    async with open_runtime(tmp_path, STREAMFORGE_NOTIFIERS__TIMEOUT="0.3", **env) as rt:
        await announce(rt, ready())
        await Dispatcher(rt).run_once()
        assert connected.is_set()
        [row] = await outbox_rows(rt)
        assert row.last_error == "timed out after 0.3 s"
    # the SMTP thread was aborted with the delivery, not left waiting 30 s for a greeting
    for thread in [t for t in threading.enumerate() if t.name == "streamforge-smtp"]:
        await asyncio.to_thread(thread.join, 5)
        assert not thread.is_alive()
