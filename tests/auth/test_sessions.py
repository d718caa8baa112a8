"""Login sessions, CSRF tokens, login throttling and the site key, on a real SQLite file."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from streamforge.auth.accounts import create_user, set_disabled, set_password
from streamforge.auth.secret import FILE_NAME, load_secret_key
from streamforge.auth.sessions import (
    csrf_ok,
    end_session,
    purge_expired,
    resolve_session,
    start_session,
)
from streamforge.auth.throttle import Limit, forget, record_failure, wait_needed
from streamforge.db.models import LoginSession, Role, utcnow
from streamforge.db.session import Database
from streamforge.errors import ConfigError
from tests.conftest import make_settings
from tests.dbs import everything_stored

KEY = b"k" * 32
PASSWORD = "correct horse battery"


async def test_a_session_stands_for_its_user_until_it_ends(db: Database) -> None:
    ada = await create_user(db, "ada", PASSWORD, Role.UPLOADER)
    cookie = await start_session(db, ada, days=14)
    login = await resolve_session(db, cookie, KEY)
    assert login is not None
    assert login.account == ada
    # the database keeps a digest, never the cookie itself
    async with db.read() as s:
        [stored] = (await s.execute(select(LoginSession.id))).scalars()
    assert stored != cookie
    assert cookie.encode() not in await everything_stored(db)

    other = await start_session(db, ada, days=14)
    assert other != cookie  # every login is a new session
    await end_session(db, login.session_id)
    assert await resolve_session(db, cookie, KEY) is None
    assert await resolve_session(db, other, KEY) is not None


@pytest.mark.parametrize("cookie", [None, "", "made-up", "x" * 500])
async def test_unknown_cookies_are_nobody(db: Database, cookie: str | None) -> None:
    assert await resolve_session(db, cookie, KEY) is None


async def test_expiry_password_change_and_disabling_end_sessions(db: Database) -> None:
    ada = await create_user(db, "ada", PASSWORD, Role.UPLOADER)
    old = await start_session(db, ada, days=14)
    async with db.session() as s:
        await s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await resolve_session(db, old, KEY) is None
    assert await purge_expired(db) == 1

    cookie = await start_session(db, ada, days=14)
    await set_password(db, "ada", "a brand new password")
    assert await resolve_session(db, cookie, KEY) is None

    cookie = await start_session(db, ada, days=14)
    await set_disabled(db, "ada", True)
    assert await resolve_session(db, cookie, KEY) is None


async def test_the_csrf_token_belongs_to_one_session_and_one_site_key(db: Database) -> None:
    ada = await create_user(db, "ada", PASSWORD, Role.UPLOADER)
    first = await resolve_session(db, await start_session(db, ada, days=1), KEY)
    second = await resolve_session(db, await start_session(db, ada, days=1), KEY)
    elsewhere = await resolve_session(db, await start_session(db, ada, days=1), b"z" * 32)
    assert first is not None
    assert second is not None
    assert elsewhere is not None
    assert csrf_ok(first, first.csrf_token)
    assert not csrf_ok(first, second.csrf_token)
    assert not csrf_ok(first, None)
    assert not csrf_ok(first, "")
    assert len({first.csrf_token, second.csrf_token, elsewhere.csrf_token}) == 3


async def test_failed_logins_close_the_door_for_the_window_then_it_reopens(
    db: Database,
) -> None:
    account, address = Limit("account:ada", 3), Limit("address:10.0.0.1", 5)
    for _ in range(2):
        await record_failure(db, [account, address], window=900)
    assert await wait_needed(db, [account, address], window=900) == 0
    await record_failure(db, [account, address], window=900)
    wait = await wait_needed(db, [account, address], window=900)
    assert 890 < wait <= 900
    # another account from the same address is not locked (yet)
    assert await wait_needed(db, [Limit("account:bob", 3), address], window=900) == 0
    # a window in the past: allowed again, and the count starts over
    assert await wait_needed(db, [account], window=0.001) == 0
    await record_failure(db, [account], window=0.001)
    assert await wait_needed(db, [account], window=900) == 0
    await forget(db, "account:ada")
    assert await wait_needed(db, [account], window=900) == 0


def test_the_site_key_is_made_once_privately_and_kept(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    key = load_secret_key(settings)
    path = settings.data_dir / FILE_NAME
    assert len(key) == 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_secret_key(settings) == key
    assert list(path.parent.glob(".secret_key*")) == []

    configured = make_settings(tmp_path, STREAMFORGE_AUTH__SECRET_KEY='"' + "s" * 40 + '"')
    assert load_secret_key(configured) not in (key, b"s" * 32)

    path.write_text("not a key\n")
    with pytest.raises(ConfigError, match="not a secret key written by StreamForge"):
        load_secret_key(settings)


def test_a_short_configured_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 32 characters"):
        make_settings(tmp_path, STREAMFORGE_AUTH__SECRET_KEY='"short"')
