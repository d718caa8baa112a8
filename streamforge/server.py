"""Running the web app under Hypercorn, with a clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncGenerator, Callable

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from streamforge.app import create_app
from streamforge.config import Settings
from streamforge.errors import StreamForgeError


def listen(settings: Settings) -> socket.socket:
    """Bind the listening socket up front: a bad host or a taken port is a clear error, and
    once the app has started, connections are accepted (queued) from the first moment."""
    host, port = settings.server.host, settings.server.port
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = info[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise StreamForgeError(
            f"[server] cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another program using that port? set [server] port)"
        ) from None
    sock.listen(1024)
    return sock


def hypercorn_config(sock: socket.socket) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.graceful_timeout = 10
    config.keep_alive_timeout = 75
    return config


def run_server(settings: Settings, *, announce: Callable[[str], None]) -> None:
    app = create_app(settings)
    sock = listen(settings)
    config = hypercorn_config(sock)

    @app.while_serving
    async def _ready() -> AsyncGenerator[None, None]:
        # registered after the app's own lifecycle: the database is migrated by now
        announce(f"StreamForge is running at {settings.listen_url}")
        announce(f"data folder: {settings.data_dir}")
        yield

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait)

    try:
        asyncio.run(main())
    finally:
        with contextlib.suppress(OSError):  # Hypercorn usually closed it already
            sock.close()
