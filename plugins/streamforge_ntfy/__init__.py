"""Built-in notifier that pushes to an ntfy topic (https://ntfy.sh or your own server).

One ``POST {server}/{topic}`` per event: the text as the body, ``Title``, ``Priority``,
``Tags`` and ``Click`` (the video's page) as headers, and ``Authorization: Bearer`` when a
token is set. ntfy servers often live on the LAN, so private targets are allowed by
default here (``allow_private = true``); link-local and cloud metadata addresses are not.
"""

from __future__ import annotations

import re
from email.header import Header
from typing import Any

from pydantic import Field, SecretStr, field_validator

from streamforge import __version__
from streamforge.hookspecs import hookimpl
from streamforge.notifiers import Notifier, summarize
from streamforge.outbound import OutboundConfig, http_url, post, raise_for_status

TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Tags (ntfy shows emoji for these names) by event type.
EVENT_TAGS = {
    "video.ready": "white_check_mark",
    "video.failed": "warning",
    "video.uploaded": "inbox_tray",
    "video.deleted": "wastebasket",
}


class NtfyConfig(OutboundConfig):
    """``[notifiers.ntfy]``."""

    server: str = "https://ntfy.sh"
    #: The topic to publish to; anyone who knows its name can read it on a public server.
    topic: str
    #: Access token (``tk_…``) for protected topics; empty: none.
    token: SecretStr = SecretStr("")
    #: 1 (min) to 5 (max); failures use ``failed_priority``.
    priority: int = Field(3, ge=1, le=5)
    failed_priority: int = Field(4, ge=1, le=5)
    #: Extra tags added to every message.
    tags: list[str] = Field(default_factory=list)
    allow_private: bool = True

    @field_validator("server")
    @classmethod
    def _http(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not TOPIC.fullmatch(value):
            raise ValueError("a topic is 1 to 64 letters, digits, '_' or '-'")
        return value


def header_text(value: str) -> str:
    """A header value ntfy decodes back to ``value``: as is when ASCII, else RFC 2047."""
    value = " ".join(value.split())
    if value.isascii():
        return value
    return " ".join(Header(value, "utf-8").encode().split())


class NtfyNotifier(Notifier):
    """Pushes ready and failed videos (``events`` in its table to choose others)."""

    name = "ntfy"
    Config = NtfyConfig

    async def notify(self, event: dict[str, Any]) -> None:
        cfg = self.config
        assert isinstance(cfg, NtfyConfig)
        failed = event["type"] == "video.failed"
        if failed and not event.get("final", True):
            return  # a retry follows: tell people only when it is over
        summary = summarize(event)
        tags = [EVENT_TAGS.get(event["type"], "movie_camera"), *cfg.tags]
        headers = {
            "User-Agent": f"StreamForge/{__version__} (ntfy)",
            "Content-Type": "text/plain; charset=utf-8",
            "Title": header_text(summary.title),
            "Priority": str(cfg.failed_priority if failed else cfg.priority),
            "Tags": header_text(",".join(tags)),
        }
        if event.get("url"):
            headers["Click"] = str(event["url"])
        token = cfg.token.get_secret_value()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        reply = await post(
            f"{cfg.server}/{cfg.topic}",
            summary.text.encode(),
            headers=headers,
            policy=cfg.policy(),
            time_limit=cfg.timeout,
        )
        raise_for_status(reply)


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [NtfyNotifier]
