"""Prometheus metrics kept by this process, and the ``/metrics`` endpoint of a worker.

Counters, gauges and histograms that events in this process move (bytes of uploads
received, WebSocket clients, HTTP requests, transcode times) live in prometheus_client's
default registry, next to its process and Python collectors. What the database and the
broker know (jobs by state, queue depth) is read when the web app is scraped
(:mod:`streamforge.web.metrics`), so any number of web nodes report the same figures.

Transcodes run where the job runs: in ``serve`` in the embedded mode, in ``streamforge
worker`` processes in the scale-out mode. A worker started with ``--metrics-port`` (or
``[metrics] worker_port``) answers ``GET /metrics`` itself, which is how Prometheus expects
a fleet of processes to be watched: one target per process, nothing shared between them.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from streamforge import __version__
from streamforge.errors import ConfigError
from streamforge.media.types import TranscodeResult

if TYPE_CHECKING:
    from streamforge.config import Settings

log = logging.getLogger(__name__)

NAMESPACE = "streamforge"

#: Transcode wall times reach hours; buckets from 5 s to 4 h.
TRANSCODE_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)

UPLOAD_BYTES = Counter(
    "upload_received_bytes",
    "Bytes of uploads received by this process (tus PATCH and POST bodies).",
    namespace=NAMESPACE,
)
WEBSOCKET_CLIENTS = Gauge(
    "websocket_clients",
    "Clients connected to the live events WebSocket of this process.",
    namespace=NAMESPACE,
)
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route pattern (never the path) and status.",
    ["method", "route", "status"],
    namespace=NAMESPACE,
)
TRANSCODE_SECONDS = Histogram(
    "transcode_seconds",
    "Seconds each rung of a successful transcode kept its own thread busy (scaling, "
    "encoding, muxing) in this process. The rungs are made side by side in one pass, so "
    "these add up to more than the wall time.",
    ["rung"],
    namespace=NAMESPACE,
    buckets=TRANSCODE_BUCKETS,
)
TRANSCODE_WALL_SECONDS = Histogram(
    "transcode_wall_seconds",
    "Wall time of one successful transcode in this process, from fetching the source to "
    "the stored ladder.",
    namespace=NAMESPACE,
    buckets=TRANSCODE_BUCKETS,
)
BUILD_INFO = Gauge(
    "build_info", "Always 1; the running StreamForge version.", ["version"], namespace=NAMESPACE
)
BUILD_INFO.labels(version=__version__).set(1)


def observe_transcode(result: TranscodeResult, seconds: float) -> None:
    """Record one finished transcode: its wall time, and each rung's own seconds."""
    TRANSCODE_WALL_SECONDS.observe(seconds)
    for rung, busy in result.rung_seconds.items():
        TRANSCODE_SECONDS.labels(rung=rung).observe(busy)


async def counted_upload(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through, counting them in ``streamforge_upload_received_bytes``."""
    async for chunk in chunks:
        UPLOAD_BYTES.inc(len(chunk))
        yield chunk


def token_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: scrapes every few seconds would drown the real log."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per scrape: a slow client must not hold the next scrape back."""

    daemon_threads = True


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_wsgi_app(token: str, registry: CollectorRegistry = REGISTRY) -> WSGIApp:
    """prometheus_client's WSGI app answering only ``/metrics``, behind a bearer token
    when ``token`` is set."""
    inner = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        if token and not token_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"unauthorized: send Authorization: Bearer <[metrics] token>\n"]
        result: Iterable[bytes] = inner(environ, start_response)
        return result

    return app


def serve_worker_metrics(host: str, port: int, token: str) -> WSGIServer:
    """Answer ``GET http://host:port/metrics`` from a daemon thread; returns the server
    (its ``server_port`` is the real port when ``port`` is 0; ``shutdown()`` stops it)."""
    try:
        server = make_server(
            host, port, metrics_wsgi_app(token), _ThreadingServer, handler_class=_QuietHandler
        )
    except OSError as exc:
        raise ConfigError(
            f"[metrics] worker_port: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another program using that port? pick another, or 0 for none)"
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("worker metrics at http://%s:%d/metrics", host, server.server_port)
    return server


def start_worker_metrics(settings: Settings, *, port: int | None = None) -> WSGIServer | None:
    """Serve a worker's metrics on ``port`` (None: ``[metrics] worker_port``), unless that
    is 0 or ``[metrics] enabled`` is false."""
    chosen = settings.metrics.worker_port if port is None else port
    if not chosen or not settings.metrics.enabled:
        return None
    token = settings.metrics.token.get_secret_value()
    return serve_worker_metrics(settings.metrics.worker_host, chosen, token)
