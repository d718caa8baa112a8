"""The container image's entrypoint: ``python -m streamforge.container [COMMAND [ARGS…]]``.

For ``serve`` (the default) and ``worker`` it waits until the database, the broker and the
storage answer, migrates the database, then replaces itself with ``streamforge COMMAND``
(``exec``: the server becomes PID 1 and receives the container's SIGTERM). Other
``streamforge`` commands run straight away; anything else (``sh``) runs as given.

In Python rather than shell: the image needs no extra tools (``nc``, ``pg_isready``), and
the configuration — a file, ``STREAMFORGE_*`` variables, ``DATABASE_URL`` and friends — is
read exactly as ``streamforge`` reads it.

``STREAMFORGE_WAIT_TIMEOUT`` (seconds, default 60) bounds the wait. When it runs out, one
line says what did not answer and the exit status is 1; no password is ever printed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

from streamforge.config import Settings, find_config_path, load_settings, redact_url
from streamforge.errors import StreamForgeError

WAIT_ENV = "STREAMFORGE_WAIT_TIMEOUT"
DEFAULT_WAIT = 60.0
#: Seconds between attempts, and the most one attempt may take.
RETRY_EVERY = 1.0
ATTEMPT_TIMEOUT = 5.0
#: Commands that need the services up and the schema current before they start.
WAITING_COMMANDS = frozenset({"serve", "worker"})


class NotReady(StreamForgeError):
    """A service did not answer within the wait."""


def _say(message: str) -> None:
    print(f"streamforge-entrypoint: {message}", file=sys.stderr, flush=True)


def _split_config(args: list[str]) -> tuple[str | None, list[str]]:
    """A leading ``--config PATH`` (or ``--config=PATH``) and the rest."""
    if args and args[0] == "--config" and len(args) > 1:
        return args[1], args[2:]
    if args and args[0].startswith("--config="):
        return args[0].split("=", 1)[1], args[1:]
    return None, args


def wait_seconds() -> float:
    """The wait from ``STREAMFORGE_WAIT_TIMEOUT``; a bad value is a clear error."""
    raw = os.environ.get(WAIT_ENV, "")
    if not raw:
        return DEFAULT_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise StreamForgeError(f"{WAIT_ENV}: expected a number of seconds, found {raw!r}")
    return value


async def _until_up(
    what: str, check: Callable[[], Awaitable[None]], where: str, deadline: float
) -> None:
    """Call ``check`` until it passes or ``deadline`` (monotonic) has passed."""
    said = False
    while True:
        try:
            await asyncio.wait_for(check(), ATTEMPT_TIMEOUT)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {ATTEMPT_TIMEOUT:g} s"
            if time.monotonic() >= deadline:
                raise NotReady(
                    f"the {what} at {where} did not answer in time ({WAIT_ENV}): {reason}"
                ) from None
            if not said:
                _say(f"waiting for the {what} at {where}…")
                said = True
            await asyncio.sleep(RETRY_EVERY)
        else:
            if said:
                _say(f"the {what} answers")
            return


async def prepare(settings: Settings, wait: float) -> None:
    """Wait for the database, the broker and the storage; then migrate the database."""
    from streamforge.db.session import Database
    from streamforge.plugins import Registry
    from streamforge.web.health import ping_broker

    deadline = time.monotonic() + wait
    db = Database.of(settings)
    try:
        await _until_up("database", db.check, db.safe_url, deadline)
        if settings.broker.url:
            url = settings.broker.url
            await _until_up(
                "broker", lambda: ping_broker(url, ATTEMPT_TIMEOUT), redact_url(url), deadline
            )
        storage = Registry.build(settings).storage()
        try:
            await _until_up("storage", storage.check, settings.storage.backend, deadline)
        finally:
            await storage.close()
        await db.migrate()  # (serve and worker would too; here a failure stops the start)
        _say("database schema is up to date")
    finally:
        await db.close()


def run(argv: list[str]) -> int:
    """Prepare, then exec. Returns only when there is an error to report."""
    config, args = _split_config(argv)
    args = args or ["serve"]
    command = args[0]
    streamforge = [sys.executable, "-m", "streamforge"]
    prefix = ["--config", config] if config else []
    known = _streamforge_commands()
    if command not in known and not command.startswith("-"):
        os.execvp(command, args)  # e.g. `sh`: not ours to prepare
    if command in WAITING_COMMANDS:
        try:
            settings = load_settings(find_config_path(config))
            asyncio.run(prepare(settings, wait_seconds()))
        except StreamForgeError as exc:
            for line in str(exc).splitlines():
                _say(f"error: {line}")
            return 1
    os.execv(sys.executable, [*streamforge, *prefix, *args])


def _streamforge_commands() -> set[str]:
    from streamforge.cli import cli

    return set(cli.commands)


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
