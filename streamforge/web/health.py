"""Readiness: ``GET /api/v1/ready`` checks the database, the broker and the storage.

Liveness (``GET /api/v1/health``, in :mod:`streamforge.web.api`) only says the process
answers; an orchestrator restarts a process that fails it. Readiness says whether this node
can do its work now; a load balancer stops sending requests to a node that fails it, and
nothing is restarted. Both answer anonymous callers, so the readiness body names each
check's kind and the sort of failure, never a URL, host, path or bucket: those go to the
server log.

Every check has its own time limit and they run side by side, so one answer takes at most
:data:`CHECK_TIMEOUT` seconds. Answers are shared for :data:`CACHE_SECONDS`: a burst of
probes costs one round of checks (on S3 each storage check is a request that may be billed).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field
from quart import Blueprint, Quart, current_app
from quart_schema import validate_response

from streamforge.errors import StreamForgeError
from streamforge.jobs.broker import broker_kind
from streamforge.runtime import Runtime
from streamforge.web.state import runtime

log = logging.getLogger(__name__)

blueprint = Blueprint("health", __name__)

#: Seconds each check may take before it counts as failed.
CHECK_TIMEOUT = 3.0
#: Seconds an answer is reused for further probes.
CACHE_SECONDS = 1.0


class CheckOut(BaseModel):
    ok: bool
    kind: str = Field(description='what was checked, e.g. "postgresql", "redis", "s3"')
    seconds: float = Field(description="how long the check took")
    error: str | None = Field(None, description="why it failed (details are in the server log)")


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, CheckOut] = Field(description="database, broker and storage")


def redis_client(url: str, timeout: float) -> Any:
    """An asyncio Redis client that gives up on a dead server within ``timeout``."""
    import redis.asyncio as aioredis

    return aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def rabbitmq_connection(url: str, timeout: float) -> Any:
    """A blocking pika connection (call from a thread); pika comes with dramatiq[rabbitmq]."""
    pika: Any = importlib.import_module("pika")
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    return pika.BlockingConnection(params)


async def ping_broker(url: str, socket_timeout: float = CHECK_TIMEOUT) -> None:
    """Raise unless the broker at ``url`` answers (Redis PING, an AMQP connection)."""
    kind = broker_kind(url)
    if kind == "redis":
        client = redis_client(url, socket_timeout)
        try:
            await client.ping()
        finally:
            await client.aclose()
    elif kind == "rabbitmq":

        def connect() -> None:
            rabbitmq_connection(url, socket_timeout).close()

        await asyncio.to_thread(connect)


async def _check_database(rt: Runtime) -> None:
    await rt.db.check()


async def _check_broker(rt: Runtime) -> None:
    await ping_broker(rt.settings.broker.url)


async def _check_storage(rt: Runtime) -> None:
    await rt.storage.check()


def _kinds(rt: Runtime) -> dict[str, str]:
    return {
        "database": "sqlite" if rt.db.is_sqlite else "postgresql",
        "broker": broker_kind(rt.settings.broker.url),
        "storage": rt.settings.storage.backend,
    }


_FAILURE = {
    "database": "no answer to a query",
    "broker": "no answer from the broker",
    "storage": "the storage check failed",
}
_CHECKS: dict[str, Callable[[Runtime], Awaitable[None]]] = {
    "database": _check_database,
    "broker": _check_broker,
    "storage": _check_storage,
}


@dataclass
class Readiness:
    """The checks of one app, with the last answer kept for :data:`CACHE_SECONDS`."""

    timeout: float = CHECK_TIMEOUT
    answer: Ready | None = None
    answered_at: float = 0.0
    #: The last error logged per check, so a lasting failure is logged once, not per probe.
    logged: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def check(self, rt: Runtime) -> Ready:
        """Run every check (or reuse an answer younger than :data:`CACHE_SECONDS`)."""
        async with self.lock:  # probes arriving together share one round of checks
            if self.answer is None or time.monotonic() - self.answered_at > CACHE_SECONDS:
                self.answer = await self._run(rt)
                self.answered_at = time.monotonic()
            return self.answer

    async def _run(self, rt: Runtime) -> Ready:
        kinds = _kinds(rt)
        names = list(_CHECKS)
        results = await asyncio.gather(*(self._one(name, kinds[name], rt) for name in names))
        checks = dict(zip(names, results, strict=True))
        ok = all(c.ok for c in checks.values())
        return Ready(status="ready" if ok else "not ready", checks=checks)

    async def _one(self, name: str, kind: str, rt: Runtime) -> CheckOut:
        started = time.monotonic()
        error: str | None = None
        try:
            await asyncio.wait_for(_CHECKS[name](rt), self.timeout)
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
            detail = error
        except Exception as exc:  # any failure means "not ready"; the body stays generic
            cause = exc.__cause__ if isinstance(exc, StreamForgeError) and exc.__cause__ else exc
            error = f"{_FAILURE[name]} ({type(cause).__name__})"
            detail = str(exc) or type(exc).__name__
        seconds = round(time.monotonic() - started, 4)
        if error is None:
            if self.logged.pop(name, None) is not None:
                log.info("readiness: %s is back", name)
        elif self.logged.get(name) != detail:
            self.logged[name] = detail
            log.warning("readiness: %s (%s) failed: %s", name, kind, detail)
        return CheckOut(ok=error is None, kind=kind, seconds=seconds, error=error)


def install(app: Quart) -> None:
    """Serve ``/api/v1/ready`` on ``app``."""
    app.extensions["streamforge.readiness"] = Readiness()
    app.register_blueprint(blueprint)


@blueprint.get("/api/v1/ready")
@validate_response(Ready, 200)
@validate_response(Ready, 503)
async def ready() -> tuple[Ready, int]:
    """Readiness: 200 when the database, the broker and the storage all answer, else 503
    naming what failed. Anyone may ask; the answer holds no URLs or names."""
    readiness: Readiness = current_app.extensions["streamforge.readiness"]
    answer = await readiness.check(runtime())
    return answer, 200 if answer.status == "ready" else 503
