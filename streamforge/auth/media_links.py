"""Signed media links for videos that are not public.

``?t=<expires>.<signature>`` on a media URL opens that one video's files, read-only,
until ``expires`` (Unix seconds) — and only while the video's ``media_epoch`` is the one
it was signed for: any privacy change bumps the epoch, so every link given out before it
stops working. The token is not the session, so a leaked link never leaks a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def _signature(key: bytes, video_id: str, epoch: int, expires: int) -> str:
    mac = hmac.new(key, f"media|{video_id}|{epoch}|{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:24]).decode()


def sign(key: bytes, video_id: str, epoch: int, lifetime: int, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + lifetime)
    return f"{expires}.{_signature(key, video_id, epoch, expires)}"


def valid(key: bytes, token: str, video_id: str, epoch: int, now: float | None = None) -> bool:
    expires_text, _, signature = token.partition(".")
    # (ASCII only: compare_digest raises on other text, and isdigit() takes any script's digits)
    if not token.isascii() or not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires <= (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(key, video_id, epoch, expires))
