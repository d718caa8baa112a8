"""Browser logins: a random secret in an HttpOnly cookie, its SHA-256 as the row's key.

Logging in always starts a new session (the web layer ends the one the browser had, so a
planted cookie is worth nothing after login). A session ends at logout, when it expires,
when its user's password changes and when its user is disabled. The CSRF token of a
session is derived from it with the site key, so it needs no storage.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from streamforge.auth.accounts import Account
from streamforge.auth.secret import stored_digest
from streamforge.db.models import LoginSession, utcnow
from streamforge.db.session import Database


@dataclass(frozen=True)
class Login:
    """A live session: whose it is, and the CSRF token its forms must carry."""

    session_id: str
    account: Account
    csrf_token: str


def csrf_token(key: bytes, session_id: str) -> str:
    return hmac.new(key, f"csrf|{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(login: Login, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(login.csrf_token, presented)


async def start_session(db: Database, account: Account, *, days: float) -> str:
    """A new session for ``account``; returns the cookie value (shown nowhere else)."""
    cookie = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.session() as s:
        s.add(
            LoginSession(
                id=stored_digest(cookie),
                user_id=account.id,
                created_at=now,
                expires_at=now + timedelta(days=days),
            )
        )
    return cookie


async def resolve_session(db: Database, cookie: str | None, key: bytes) -> Login | None:
    """The login a cookie stands for; None when it is unknown, expired or its user disabled."""
    if not cookie or len(cookie) > 128:
        return None
    session_id = stored_digest(cookie)
    async with db.read() as s:
        row = await s.get(LoginSession, session_id)
        if row is None or row.expires_at <= utcnow() or row.user.disabled:
            return None
        account = Account.of(row.user)
    return Login(session_id, account, csrf_token(key, session_id))


async def end_session(db: Database, session_id: str) -> None:
    async with db.session() as s:
        await s.execute(delete(LoginSession).where(LoginSession.id == session_id))


async def purge_expired(db: Database) -> int:
    async with db.session() as s:
        result = await s.execute(delete(LoginSession).where(LoginSession.expires_at <= utcnow()))
        return int(result.rowcount)  # type: ignore[attr-defined]
