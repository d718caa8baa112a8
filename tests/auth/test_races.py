"""Check-then-write account code under concurrency, on SQLite and PostgreSQL: what one
request at a time gets right must stay right when many arrive together."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from streamforge.auth.accounts import create_user
from streamforge.auth.throttle import Limit, record_failure, wait_needed
from streamforge.db.models import LoginFailure, Role, User
from streamforge.db.session import Database
from streamforge.errors import NotFound

GOOD = "correct horse battery"


async def test_setup_forms_sent_at_once_make_one_admin(db: Database) -> None:
    results = await asyncio.gather(
        *(create_user(db, f"admin{i}", GOOD, Role.ADMIN, first_admin=True) for i in range(6)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(made) == 1
    assert all(isinstance(r, NotFound) for r in refused), refused
    async with db.read() as s:
        admins = await s.scalar(select(func.count()).where(User.role == Role.ADMIN))
    assert admins == 1


async def test_failures_sent_at_once_all_count(db: Database) -> None:
    limits = [Limit("account:alice", 5), Limit("address:203.0.113.9", 20)]
    await asyncio.gather(*(record_failure(db, limits, 900) for _ in range(8)))
    async with db.read() as s:
        counts = {row.key: row.failures for row in await s.scalars(select(LoginFailure))}
    assert counts == {"account:alice": 8, "address:203.0.113.9": 8}
    assert await wait_needed(db, limits, 900) > 800


async def test_a_passed_window_starts_counting_again(db: Database) -> None:
    limits = [Limit("account:bob", 2)]
    for _ in range(3):
        await record_failure(db, limits, 900)
    assert await wait_needed(db, limits, 900) > 0
    await record_failure(db, limits, 0.0)  # a zero window: the old one has passed
    async with db.read() as s:
        failures = await s.scalar(
            select(LoginFailure.failures).where(LoginFailure.key == "account:bob")
        )
    assert failures == 1
    assert await wait_needed(db, limits, 900) == 0
