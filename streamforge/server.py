"""Running the web app under Hypercorn, with a clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncGenerator, Callable

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from streamforge.app import create_app
from streamforge.config import Settings
from streamforge.errors import StreamForgeError

#: Seconds open HTTP connections get to finish after SIGTERM.
HTTP_GRACE = 10.0
#: Largest WebSocket message a client may send, bytes.
WEBSOCKET_MAX_MESSAGE = 64 * 1024


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
    config.accesslog = None  # (request paths may carry media link tokens)
    # Hypercorn's own messages go through our handler, in [logging] format; given a name
    # instead, it would add a handler of its own and print each line twice
    config.errorlog = logging.getLogger("hypercorn.error")
    # on SIGTERM: stop accepting, let requests under way finish for this long (WebSockets
    # and long media reads are then closed); embedded jobs drain at the same time
    config.graceful_timeout = HTTP_GRACE
    config.keep_alive_timeout = 75
    # what clients send on /api/v1/events is a few bytes of JSON (subscribe, pong); a
    # larger message closes the socket (1009) instead of being buffered (default 16 MiB)
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE
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

        def on_signal() -> None:
            # Jobs start draining now, alongside the HTTP connections, not after them:
            # running transcodes get [jobs] shutdown_grace, then are handed back (a second
            # signal hands them back at once). The app's lifecycle then waits for them.
            host = app.extensions["streamforge"].jobs
            if host is not None:
                if stop.is_set():
                    host.hand_back_running()
                host.begin_shutdown()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await serve(app, config, shutdown_trigger=stop.wait)

    try:
        asyncio.run(main())
    finally:
        with contextlib.suppress(OSError):  # Hypercorn usually closed it already
            sock.close()
