"""Logging for every command: readable lines or JSON lines (``[logging] format``).

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, every extra
field the call passed (``log.info(..., extra={"video_id": ...})``), the fields bound to the
running task with :func:`bind` (a transcode binds ``job_id`` and ``video_id``, so every line
its runner, the pipeline and the storage write carries them), and ``exception`` with the
traceback when there is one.

Whatever the format, media link tokens never reach the log: a path like
``/media/<id>/~<token>/…`` is written as ``/media/<id>/~***/…`` (Quart names the request
path when a request fails, and that path may carry a token).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from streamforge.config import LoggingSection

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Loggers that say too much at INFO; they log at WARNING and above unless the level is higher.
NOISY = ("dramatiq", "hypercorn.access", "aiosqlite", "libav", "alembic")

#: ``/media/<id>/~<token>`` (the path form) and ``t=<expires>.<signature>`` (a query form).
_TOKENS = re.compile(r"(/media/[^/\s]+/~)[^/\s?#\"']+|(\bt=)\d+\.[A-Za-z0-9_=-]+")

#: Fields of every LogRecord; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "streamforge_log_fields", default=None
)


def bind(**fields: Any) -> None:
    """Add ``fields`` to every record logged from now on by this task (and the tasks it
    starts): an asyncio task has its own copy of the context, so nothing leaks out."""
    _bound.set({**(_bound.get() or {}), **fields})


def bound() -> dict[str, Any]:
    """The fields :func:`bind` attached to the current context."""
    return dict(_bound.get() or {})


def scrub(text: str) -> str:
    """``text`` with media link tokens replaced by ``***``."""
    return _TOKENS.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class ContextFilter(logging.Filter):
    """Adds the bound fields to each record and removes media link tokens from its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return scrub(super().formatException(ei))


class StreamForgeHandler(logging.StreamHandler[IO[str]]):
    """The handler :func:`setup_logging` installs (found again by its class)."""


def setup_logging(config: LoggingSection, stream: IO[str] | None = None) -> logging.Handler:
    """Send every record at ``config.level`` or above to ``stream`` (stderr) in
    ``config.format``. Calling it again replaces the handler it installed before."""
    level = getattr(logging, config.level.upper())
    handler = StreamForgeHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if config.format == "json" else _TextFormatter(TEXT_FORMAT)
    )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StreamForgeHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
    return handler
