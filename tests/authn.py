"""Accounts for tests: users and API tokens made straight in the database, a test client
that sends its token with every request, and logging a browser in."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from quart import Quart
from quart.testing import QuartClient
from werkzeug.datastructures import Headers

from streamforge.auth.accounts import Account, create_user
from streamforge.auth.tokens import create_token
from streamforge.db.models import Role, User
from streamforge.db.session import Database

PASSWORD = "correct horse battery"


async def make_account(
    db: Database, name: str = "admin", role: Role = Role.ADMIN, *, password: str | None = None
) -> tuple[Account, str]:
    """A user (with ``password``, or none: token only, no slow hash) and an API token."""
    if password is not None:
        account = await create_user(db, name, password, role)
    else:
        async with db.session() as s:
            user = User(name=name, role=role)
            s.add(user)
            await s.flush()
            account = Account.of(user)
    return account, (await create_token(db, name)).token


class BearerClient(QuartClient):
    """The app's test client, sending ``Authorization: Bearer <token>`` unless a request
    sets its own ``Authorization``."""

    token = ""

    def _with_token(self, headers: Any) -> Headers:
        merged = Headers(headers or {})
        if self.token and "Authorization" not in merged:
            merged["Authorization"] = f"Bearer {self.token}"
        return merged

    async def open(self, path: str, *, headers: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        return await super().open(path, headers=self._with_token(headers), **kwargs)

    def request(self, path: str, *, headers: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """A streamed request (a body sent in parts, a client that goes away)."""
        return super().request(path, headers=self._with_token(headers), **kwargs)


def bearer_client(app: Quart, token: str) -> BearerClient:
    client = BearerClient(app)
    client.token = token
    return client


def ensure_admin(config: Path, env: dict[str, str] | None = None) -> str:
    """An ``admin`` (password :data:`PASSWORD`) in the database of a config file, made if
    missing, and a new API token of theirs, before or beside a real ``serve``."""
    import os

    from streamforge.auth.accounts import list_users
    from streamforge.config import load_settings

    url = load_settings(config, environ={**os.environ, **(env or {})}).database_url

    async def go() -> str:
        db = Database(url)
        try:
            await db.migrate()
            if not any(u.name == "admin" for u in await list_users(db)):
                await create_user(db, "admin", PASSWORD, Role.ADMIN)
            return (await create_token(db, "admin")).token
        finally:
            await db.close()

    # a thread of its own: the caller may be inside an event loop (async tests, Playwright)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def log_in(page: Any, base_url: str, name: str = "admin", password: str = PASSWORD) -> None:
    """Log a Playwright page in through the login form (the user must have ``password``)."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert "/login" not in page.url, "the login was refused"
