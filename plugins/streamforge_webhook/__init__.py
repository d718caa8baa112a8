"""Built-in notifier that POSTs each event as JSON to a URL, signed with HMAC-SHA256.

Headers of every request (see docs/events.md, "Webhooks", for verifying them):

* ``X-StreamForge-Event``: the event type; ``X-StreamForge-Event-Id``: the event id (the
  same on every retry: use it to ignore repeats);
* ``X-StreamForge-Timestamp``: Unix seconds when this attempt was signed;
* ``X-StreamForge-Signature``: ``sha256=<hex>``, the HMAC-SHA256 with the configured
  secret of ``<timestamp>.<raw body>``. Signing the timestamp lets a receiver refuse old
  requests, so a captured request cannot be replayed later.

Targets are checked against the SSRF rules of :mod:`streamforge.outbound`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from pydantic import SecretStr, field_validator

from streamforge import __version__
from streamforge.hookspecs import hookimpl
from streamforge.notifiers import LIFECYCLE_EVENTS, Notifier
from streamforge.outbound import OutboundConfig, http_url, post, raise_for_status

SIGNATURE_HEADER = "X-StreamForge-Signature"
TIMESTAMP_HEADER = "X-StreamForge-Timestamp"


class WebhookConfig(OutboundConfig):
    """``[notifiers.webhook]``."""

    url: str
    #: Shared secret for the signature header; empty: requests are not signed.
    secret: SecretStr = SecretStr("")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return http_url(value)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age: float = 300) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier(Notifier):
    """POSTs every lifecycle event as JSON (the event exactly as documented)."""

    name = "webhook"
    Config = WebhookConfig
    events = LIFECYCLE_EVENTS

    async def notify(self, event: dict[str, Any]) -> None:
        cfg = self.config
        assert isinstance(cfg, WebhookConfig)
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"StreamForge/{__version__} (webhook)",
            "X-StreamForge-Event": str(event["type"]),
            "X-StreamForge-Event-Id": str(event["id"]),
            TIMESTAMP_HEADER: timestamp,
        }
        secret = cfg.secret.get_secret_value()
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        reply = await post(
            cfg.url, body, headers=headers, policy=cfg.policy(), time_limit=cfg.timeout
        )
        raise_for_status(reply)


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [WebhookNotifier]
