"""The notification outbox: one row per (event, notifier), claimed and settled in the database.

Announcing an event only inserts rows (``INSERT … ON CONFLICT DO NOTHING`` on the unique
(event id, notifier) pair, so announcing it again changes nothing); dispatchers deliver
them later, off the request and job path. Every transition is one conditional UPDATE, so
any number of dispatchers in any number of processes may run against one database: a row
is claimed by exactly one of them, and a dispatcher whose claim expired (its process
stalled or died, and the row was claimed again) cannot record an outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from streamforge.db.models import Notification, OutboxState
from streamforge.db.session import Database
from streamforge.events import Event


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delivery:
    """A dispatcher's claim on one attempt at delivering one event to one notifier."""

    row_id: int
    notifier: str
    event: Event
    attempt: int
    token: int


async def enqueue(db: Database, event: Event, notifiers: Iterable[str]) -> int:
    """Queue ``event`` for each notifier; returns how many rows were new."""
    names = sorted(set(notifiers))
    if not names:
        return 0
    # JSON-safe once here, so the column never meets a datetime or an enum
    payload = json.loads(json.dumps(event, default=str))
    t = now()
    rows = [
        {
            "event_id": str(event["id"]),
            "notifier": name,
            "event_type": str(event["type"]),
            "event": payload,
            "state": OutboxState.PENDING,
            "attempts": 0,
            "claim_token": 0,
            "next_attempt_at": t,
            "created_at": t,
            "updated_at": t,
        }
        for name in names
    ]
    async with db.session() as s:
        dialect = s.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite_insert if dialect == "sqlite" else pg_insert
            stmt = (
                insert(Notification)
                .on_conflict_do_nothing(index_elements=["event_id", "notifier"])
                .returning(Notification.id)
            )
            return len((await s.scalars(stmt, rows)).all())  # only the rows inserted
        added = 0
        for row in rows:  # other databases: one savepoint per row
            try:
                async with s.begin_nested():
                    s.add(Notification(**row))
                added += 1
            except IntegrityError:
                continue
        return added


async def claim_next(db: Database, notifier: str, lease_seconds: float) -> Delivery | None:
    """Claim the oldest due delivery for ``notifier``, or None when nothing is due.

    The claim counts as an attempt and holds the row for ``lease_seconds``: if the
    delivery is neither settled nor retried by then, it is due again for anyone.
    """
    t = now()
    async with db.session() as s:
        while True:
            row = (
                await s.execute(
                    select(Notification.id, Notification.claim_token)
                    .where(
                        Notification.notifier == notifier,
                        Notification.state == OutboxState.PENDING,
                        Notification.next_attempt_at <= t,
                    )
                    .order_by(Notification.id)
                    .limit(1)
                    # PostgreSQL: dispatchers racing for the oldest row each take another
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            row_id, token = row
            result = await s.execute(
                update(Notification)
                .where(
                    Notification.id == row_id,
                    Notification.claim_token == token,
                    Notification.state == OutboxState.PENDING,
                )
                .values(
                    claim_token=Notification.claim_token + 1,
                    attempts=Notification.attempts + 1,
                    next_attempt_at=t + timedelta(seconds=lease_seconds),
                    updated_at=t,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                break
            # another dispatcher took it between our SELECT and UPDATE: look again
        claimed = (
            await s.execute(select(Notification).where(Notification.id == row_id))
        ).scalar_one()
        return Delivery(
            claimed.id, claimed.notifier, claimed.event, claimed.attempts, claimed.claim_token
        )


def _held(d: Delivery) -> Any:
    return (
        (Notification.id == d.row_id)
        & (Notification.claim_token == d.token)
        & (Notification.state == OutboxState.PENDING)
    )


async def delivered(db: Database, d: Delivery) -> bool:
    """Record a successful delivery; False when the claim had been lost meanwhile."""
    t = now()
    async with db.session() as s:
        result = await s.execute(
            update(Notification)
            .where(_held(d))
            .values(state=OutboxState.DELIVERED, last_error=None, finished_at=t, updated_at=t)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def failed(db: Database, d: Delivery, error: str, *, retry_in: float | None) -> bool:
    """Record a failed attempt: due again in ``retry_in`` seconds, or (None) failed for good.

    False when the claim had been lost meanwhile (nothing is changed).
    """
    t = now()
    values: dict[str, Any] = {"last_error": error, "updated_at": t}
    if retry_in is None:
        values.update(state=OutboxState.FAILED, finished_at=t)
    else:
        values["next_attempt_at"] = t + timedelta(seconds=retry_in)
    async with db.session() as s:
        result = await s.execute(update(Notification).where(_held(d)).values(**values))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


ABANDONED = "attempt {n} never finished (the process delivering it stopped or hung)"


async def give_up_abandoned(db: Database, notifiers: Iterable[str], max_attempts: int) -> int:
    """Fail deliveries whose last allowed attempt was claimed and never settled."""
    t = now()
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Notification.id, Notification.claim_token, Notification.attempts).where(
                    Notification.notifier.in_(list(notifiers)),
                    Notification.state == OutboxState.PENDING,
                    Notification.attempts >= max_attempts,
                    Notification.next_attempt_at <= t,
                )
            )
        ).all()
        given_up = 0
        for row_id, token, attempts in rows:
            result = await s.execute(
                update(Notification)
                .where(
                    Notification.id == row_id,
                    Notification.claim_token == token,
                    # PostgreSQL: not settled by its (late) dispatcher since it was read
                    Notification.state == OutboxState.PENDING,
                )
                .values(
                    state=OutboxState.FAILED,
                    last_error=ABANDONED.format(n=attempts),
                    finished_at=t,
                    updated_at=t,
                )
            )
            given_up += result.rowcount  # type: ignore[attr-defined]
        return given_up


async def next_due(db: Database, notifiers: Iterable[str]) -> datetime | None:
    """When the earliest pending delivery for ``notifiers`` is due (None: nothing pending)."""
    async with db.read() as s:
        value: datetime | None = (
            await s.execute(
                select(func.min(Notification.next_attempt_at)).where(
                    Notification.notifier.in_(list(notifiers)),
                    Notification.state == OutboxState.PENDING,
                )
            )
        ).scalar_one_or_none()
    return value


async def prune(db: Database, finished_before: datetime) -> int:
    """Delete delivered and failed deliveries that finished before ``finished_before``."""
    async with db.session() as s:
        result = await s.execute(
            delete(Notification).where(
                Notification.state != OutboxState.PENDING,
                Notification.finished_at < finished_before,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
