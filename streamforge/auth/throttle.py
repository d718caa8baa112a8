"""Login throttling: failed attempts counted per account and per address, in the database
(so every web node sees the same counts), in fixed windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from streamforge.db.models import LoginFailure, utcnow
from streamforge.db.session import Database


@dataclass(frozen=True)
class Limit:
    key: str  # "account:<name>" or "address:<ip>"
    attempts: int


async def wait_needed(db: Database, limits: list[Limit], window: float) -> float:
    """Seconds until a login may be tried again under every limit; 0 when it may now."""
    now = utcnow()
    wait = 0.0
    async with db.read() as s:
        for limit in limits:
            row = await s.get(LoginFailure, limit.key)
            if row is None or row.failures < limit.attempts:
                continue
            reopens = row.window_start + timedelta(seconds=window)
            wait = max(wait, (reopens - now).total_seconds())
    return wait


async def record_failure(db: Database, limits: list[Limit], window: float) -> None:
    """Count one failed attempt under each limit, starting a new window where the old
    one has passed. One upsert per key, so failures sent at once all count."""
    now = utcnow()
    expired = LoginFailure.window_start <= now - timedelta(seconds=window)
    insert = sqlite_insert if db.is_sqlite else pg_insert
    async with db.session() as s:
        for limit in limits:
            stmt = insert(LoginFailure).values(key=limit.key, failures=1, window_start=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=[LoginFailure.key],
                set_={
                    "failures": case((expired, 1), else_=LoginFailure.failures + 1),
                    "window_start": case((expired, now), else_=LoginFailure.window_start),
                },
            )
            await s.execute(stmt)


async def forget(db: Database, key: str) -> None:
    """A successful login clears its account's count (not its address's)."""
    async with db.session() as s:
        await s.execute(delete(LoginFailure).where(LoginFailure.key == key))
