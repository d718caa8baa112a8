"""Keyset ("cursor") pagination: a page starts right after (or ends right before) a row.

``OFFSET n`` walks the n rows before a page, so deep pages get slower the deeper they are;
a cursor names the sort key of the row a page continues from, and the database seeks to
it through the sort's index, so page 4,000 costs what page 1 costs. Cursors are opaque to
clients (URL-safe base64 of JSON) and carry the sort they were made for.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from streamforge.db.models import UTCDateTime
from streamforge.errors import InvalidRequest


@dataclass(frozen=True)
class Order:
    """A sort: its columns, the last of which is unique, all in one direction.

    One direction for all of them is what lets a row-value comparison ``(a, b) < (x, y)``
    seek through an index on ``(…, a, b)``.
    """

    name: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool

    def key(self, row: Any) -> list[Any]:
        """The cursor values of ``row``: its sort columns, as JSON-able values."""
        values = [getattr(row, c.key) for c in self.columns]
        return [v.isoformat() if isinstance(v, datetime) else v for v in values]


@dataclass(frozen=True)
class Cursor:
    """A position in one order: ``values`` of the row the page starts after, or — when
    ``before`` — ends before."""

    order: str
    values: list[Any]
    before: bool = False

    def encode(self) -> str:
        raw = json.dumps([self.order, int(self.before), self.values], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, order: Order) -> Cursor:
        """Parse a cursor made for ``order``; a clear error for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            name, before, values = json.loads(raw)
            valid = (
                name == order.name
                and before in (0, 1)
                and isinstance(values, list)
                and len(values) == len(order.columns)
                and all(isinstance(v, str | int | float) for v in values)
            )
        except (binascii.Error, ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidRequest(
                f"cursor is not a cursor of the {order.name!r} sort; "
                "use one from a response with the same sort, or leave it out to start over"
            )
        return cls(order=name, values=values, before=bool(before))


def _bound(order: Order, values: list[Any]) -> list[Any]:
    """The cursor's values as bound parameters of their columns' types."""
    bound = []
    for column, value in zip(order.columns, values, strict=True):
        if isinstance(column.type, UTCDateTime):
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidRequest("cursor holds an invalid time") from None
            if value.tzinfo is None:
                raise InvalidRequest("cursor holds a time without a time zone")
        bound.append(literal(value, type_=column.type))
    return bound


Row = TypeVarTuple("Row")


def seek(query: Select[*Row], order: Order, cursor: Cursor | None) -> Select[*Row]:
    """``query`` ordered by ``order`` and started at ``cursor``.

    For a ``before`` cursor the rows come in reverse order (nearest first), so that a
    ``LIMIT`` keeps the rows next to the cursor; :func:`page_rows` turns them around.
    """
    reverse = cursor is not None and cursor.before
    descending = order.descending != reverse
    if cursor is not None:
        key = tuple_(*order.columns)
        bound = tuple_(*_bound(order, cursor.values))
        query = query.where(key < bound if descending else key > bound)
    return query.order_by(*(c.desc() if descending else c.asc() for c in order.columns))


@dataclass(frozen=True)
class Window:
    """One page of rows, with the cursors of the pages around it (None at either end)."""

    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None


def page_rows(
    rows: list[Any], order: Order, cursor: Cursor | None, *, limit: int, offset: int = 0
) -> Window:
    """Cut the ``limit + 1`` rows fetched by :func:`seek` into a page and its cursors."""
    more = len(rows) > limit
    rows = rows[:limit]
    backwards = cursor is not None and cursor.before
    if backwards:
        rows.reverse()
    has_next = bool(rows) and (backwards or more)
    has_prev = bool(rows) and (more if backwards else (cursor is not None or offset > 0))
    return Window(
        rows=rows,
        next_cursor=Cursor(order.name, order.key(rows[-1])).encode() if has_next else None,
        prev_cursor=(
            Cursor(order.name, order.key(rows[0]), before=True).encode() if has_prev else None
        ),
    )
