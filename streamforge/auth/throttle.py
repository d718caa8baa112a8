"""Login throttling: failed attempts counted per account and per address, in the database
(so every web node sees the same counts), in fixed windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

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
    now = utcnow()
    async with db.session() as s:
        for limit in limits:
            row = await s.get(LoginFailure, limit.key)
            if row is None:
                s.add(LoginFailure(key=limit.key, failures=1, window_start=now))
            elif _expired(row.window_start, now, window):
                row.failures, row.window_start = 1, now
            else:
                row.failures += 1


async def forget(db: Database, key: str) -> None:
    """A successful login clears its account's count (not its address's)."""
    async with db.session() as s:
        await s.execute(delete(LoginFailure).where(LoginFailure.key == key))


def _expired(start: datetime, now: datetime, window: float) -> bool:
    return now - start >= timedelta(seconds=window)
