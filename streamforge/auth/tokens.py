"""API tokens: ``sf_<id>_<secret>``, sent as ``Authorization: Bearer``.

The id (11 characters, the row's key) lets a token be found without scanning; the secret
is compared by its SHA-256 in constant time. The plain token is shown once, when made.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from streamforge.auth.accounts import Account, find_user
from streamforge.auth.secret import stored_digest
from streamforge.db.models import ApiToken, utcnow
from streamforge.db.session import Database
from streamforge.errors import AuthenticationFailed, NotFound

PREFIX = "sf_"
ID_LENGTH = 11
#: ``last_used_at`` is written at most this often per token, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    id: str
    user_name: str
    label: str
    token: str  # the only time the plain token exists


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user_name: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _split(token: str) -> tuple[str, str] | None:
    if not token.startswith(PREFIX):
        return None
    body = token[len(PREFIX) :]
    token_id, sep, secret = body[:ID_LENGTH], body[ID_LENGTH : ID_LENGTH + 1], body[ID_LENGTH + 1 :]
    if sep != "_" or len(token_id) != ID_LENGTH or not secret:
        return None
    return token_id, secret


async def create_token(db: Database, user_name: str, label: str = "") -> NewToken:
    secret = secrets.token_urlsafe(32)
    async with db.session() as s:
        user = await find_user(s, user_name)
        row = ApiToken(user_id=user.id, label=label[:100], secret_hash=stored_digest(secret))
        s.add(row)
        await s.flush()
        assert len(row.id) == ID_LENGTH
        return NewToken(row.id, user.name, row.label, f"{PREFIX}{row.id}_{secret}")


async def authenticate_token(db: Database, token: str) -> Account:
    """The enabled user a live token belongs to; AuthenticationFailed otherwise."""
    parts = _split(token)
    refused = AuthenticationFailed("invalid or revoked API token")
    if parts is None:
        raise refused
    token_id, secret = parts
    async with db.read() as s:
        row = await s.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            raise refused
        valid = hmac.compare_digest(row.secret_hash, stored_digest(secret))
        account, last_used = Account.of(row.user), row.last_used_at
    if not valid or account.disabled:
        raise refused
    now = utcnow()
    if last_used is None or now - last_used > TOUCH_EVERY:
        async with db.session() as s:
            await s.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
    return account


async def list_tokens(db: Database, user_name: str | None = None) -> list[TokenInfo]:
    query = select(ApiToken).order_by(ApiToken.created_at)
    async with db.read() as s:
        if user_name is not None:
            query = query.where(ApiToken.user_id == (await find_user(s, user_name)).id)
        return [
            TokenInfo(t.id, t.user.name, t.label, t.created_at, t.last_used_at, t.revoked_at)
            for t in (await s.execute(query)).scalars()
        ]


async def revoke_token(db: Database, token_id: str) -> None:
    async with db.session() as s:
        row = await s.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"no API token {token_id!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
