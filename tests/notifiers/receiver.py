"""A real HTTP server for notifier tests: records requests, answers from a script."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"


class Receiver:
    """Listens on ``host`` (port chosen by the OS). ``replies`` are used in order, one per
    request; when they run out, every request gets ``200 ok``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[Received] = []
        self.replies: deque[Reply] = deque()
        self._arrived: asyncio.Queue[Received] = asyncio.Queue()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.method, request.path_qs, dict(request.headers), await request.read()
        )
        self.requests.append(received)
        self._arrived.put_nowait(received)
        reply = self.replies.popleft() if self.replies else Reply()
        return web.Response(status=reply.status, headers=reply.headers, text=reply.body)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def next(self, within: float = 10) -> Received:
        """The next request, waiting at most ``within`` seconds for it to arrive."""
        return await asyncio.wait_for(self._arrived.get(), within)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
