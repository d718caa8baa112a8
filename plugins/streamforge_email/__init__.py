"""Built-in notifier that sends a plain-text email per event over SMTP.

``security`` is ``starttls`` (port 587 by default; the upgrade is required, never skipped
when the server does not offer it), ``tls`` (implicit TLS, port 465) or ``none`` (port
25, for a relay on the same machine; credentials are refused then, as they would cross
the network in clear). Certificates are verified against the system's CAs, or against
``ca_file`` for a relay with its own CA. The password is never logged or printed.

The SMTP conversation (blocking :mod:`smtplib`) runs in a daemon thread, and a cancelled
delivery (timed out, or the process shutting down) shuts its socket down: a mail server
that stops answering never holds up ``serve`` or ``add`` on their way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, field_validator, model_validator

from streamforge.config import OptionalPath
from streamforge.errors import DeliveryRefused, NotifierError
from streamforge.hookspecs import hookimpl
from streamforge.notifiers import Notifier, NotifierConfig, summarize

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _address(value: str) -> str:
    if "@" not in parseaddr(value)[1]:
        raise ValueError(f"{value!r} is not an email address")
    return value


class EmailConfig(NotifierConfig):
    """``[notifiers.email]``."""

    host: str
    #: Default: 587 for starttls, 465 for tls, 25 for none.
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[StreamForge]"
    timeout: float = Field(30, gt=0, le=300)
    #: A CA certificate (PEM) to trust instead of the system's, for a private relay.
    ca_file: OptionalPath = None

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @model_validator(mode="after")
    def _no_clear_credentials(self) -> EmailConfig:
        if self.username and self.security == "none":
            raise ValueError(
                'username is set but security = "none" would send the password in clear; '
                'use "starttls" or "tls"'
            )
        return self


def compose(cfg: EmailConfig, event: dict[str, Any]) -> EmailMessage:
    """The message for ``event``: a subject naming the video, and its link in the text."""
    summary = summarize(event)
    lines = [summary.text, ""]
    if event.get("url"):
        lines.append(f"Watch it: {event['url']}")
    lines += [f"Video id: {event['video_id']}", f"Event: {event['type']} at {event['time']}"]
    message = EmailMessage()
    message["Subject"] = f"{cfg.subject_prefix} {summary.title}".strip()
    message["From"] = cfg.sender
    message["To"] = ", ".join(cfg.to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(cfg.sender)[1].split("@")[-1])
    message["X-StreamForge-Event-Id"] = str(event["id"])
    message.set_content("\n".join(lines) + "\n")
    return message


class Connection:
    """The socket of one delivery's SMTP client, which the event loop may shut down."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.aborted = False

    def abort(self) -> None:
        """Make the blocked conversation fail now."""
        self.aborted = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


class TrackedSMTP(smtplib.SMTP):
    """An SMTP client that hands its TCP socket to a :class:`Connection` as soon as it
    exists (before the server's greeting, and before a TLS handshake)."""

    connection: Connection

    def __init__(self, *args: Any, connection: Connection | None = None, **kwargs: Any) -> None:
        if connection is not None:  # (None when SMTP_SSL.__init__ passes through here)
            self.connection = connection
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        if self.connection.aborted:
            raise NotifierError("cancelled")
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self.connection.sock = sock
        return sock


class TrackedSMTPSSL(smtplib.SMTP_SSL, TrackedSMTP):
    """Implicit TLS; SMTP_SSL wraps the socket :class:`TrackedSMTP` opened and tracked."""

    def __init__(self, *args: Any, connection: Connection, **kwargs: Any) -> None:
        self.connection = connection
        super().__init__(*args, **kwargs)


def send(cfg: EmailConfig, message: EmailMessage, connection: Connection | None = None) -> None:
    """Deliver ``message`` (blocking; run it in a thread). ``connection`` lets another
    thread abort it."""
    connection = connection or Connection()
    port = cfg.port or DEFAULT_PORTS[cfg.security]
    context = ssl.create_default_context(cafile=cfg.ca_file)
    try:
        smtp = (
            TrackedSMTPSSL(
                cfg.host, port, timeout=cfg.timeout, context=context, connection=connection
            )
            if cfg.security == "tls"
            else TrackedSMTP(cfg.host, port, timeout=cfg.timeout, connection=connection)
        )
        with smtp:
            smtp.ehlo()
            if cfg.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryRefused(f"SMTP {cfg.host}:{port}: {exc} (check security)") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryRefused(f"SMTP {cfg.host}:{port}: login refused ({exc.smtp_code})") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryRefused(f"SMTP {cfg.host}:{port}: recipients refused: {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        error = DeliveryRefused if 500 <= exc.smtp_code < 600 else NotifierError
        reason = exc.smtp_error
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise error(f"SMTP {cfg.host}:{port}: {exc.smtp_code} {text}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryRefused(f"SMTP {cfg.host}:{port}: {exc.verify_message}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifierError(f"SMTP {cfg.host}:{port}: {exc or type(exc).__name__}") from exc


T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """``await work()`` run in a daemon thread: unlike ``asyncio.to_thread``, a thread the
    caller stopped waiting for never delays the process's exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (work(), None)
        except BaseException as exc:
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="streamforge-smtp", daemon=True).start()
    return await done


class EmailNotifier(Notifier):
    """Emails ready and failed videos (``events`` in its table to choose others)."""

    name = "email"
    Config = EmailConfig

    async def notify(self, event: dict[str, Any]) -> None:
        cfg = self.config
        assert isinstance(cfg, EmailConfig)
        if event["type"] == "video.failed" and not event.get("final", True):
            return  # a retry follows: write only when it is over
        message = compose(cfg, event)
        connection = Connection()
        try:
            await in_daemon_thread(lambda: send(cfg, message, connection))
        except asyncio.CancelledError:  # timed out, or the process is stopping
            connection.abort()
            raise


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [EmailNotifier]
