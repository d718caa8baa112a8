"""Running the web app under Hypercorn, with a clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from streamforge.app import create_app
from streamforge.config import Settings


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    host = settings.server.host
    config.bind = [
        f"[{host}]:{settings.server.port}" if ":" in host else f"{host}:{settings.server.port}"
    ]
    config.accesslog = None
    config.graceful_timeout = 10
    config.keep_alive_timeout = 75
    return config


def run_server(settings: Settings, *, announce: Callable[[str], None]) -> None:
    app = create_app(settings)
    config = hypercorn_config(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        @app.before_serving
        async def _ready() -> None:
            announce(f"StreamForge is running at {settings.listen_url}")
            announce(f"data folder: {settings.data_dir}")

        await serve(app, config, shutdown_trigger=stop.wait)

    asyncio.run(main())
