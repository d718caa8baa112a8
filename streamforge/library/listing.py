"""The library listing: search, filter, sort and page through videos, fast at 100,000.

Each sort has an index that leads with ``privacy`` and holds the sort key, ``id`` and
``status`` (migration 0003), so a page, its count and a cursor seek read that index only.

A text search cannot use an index (words match anywhere in titles and descriptions), so it
reads the table once, testing privacy and status on each row as it goes; its first page
(or an offset page) counts its matches in that same pass. Given those as
plain terms, the planner would rather walk a listing index and fetch every public row to
test its text: fast when the first page's matches are near the start of the index, 5-10
times slower when they are rare (measured with ``tests/bench/library.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from streamforge.db.models import Privacy, Video, VideoStatus
from streamforge.errors import InvalidRequest
from streamforge.library.paging import Cursor, Order, page_rows, seek

#: The sorts a listing offers (the API's ``sort`` parameter takes exactly these); each ends
#: with ``id``, the tiebreak a search page joins on.
Sort = Literal["newest", "oldest", "title"]
ORDERS: dict[str, Order] = {
    "newest": Order("newest", (Video.created_at, Video.id), descending=True),
    "oldest": Order("oldest", (Video.created_at, Video.id), descending=False),
    "title": Order("title", (Video.title, Video.id), descending=False),
}
MAX_SEARCH_WORDS = 8


@dataclass(frozen=True)
class Page:
    """One page of videos; ``total`` counts every match, the cursors lead to the pages
    before and after this one (None at either end)."""

    items: list[Video]
    total: int
    next_cursor: str | None = None
    prev_cursor: str | None = None


def order_named(sort: str) -> Order:
    """The order called ``sort``; a clear error naming the choices for anything else."""
    try:
        return ORDERS[sort]
    except KeyError:
        raise InvalidRequest(f"sort must be one of {', '.join(ORDERS)}") from None


def _escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(
    column: InstrumentedAttribute[str], word: str, *, like_ignores_case: bool
) -> ColumnElement[bool]:
    pattern = f"%{_escape_like(word)}%"
    # SQLite's LIKE already ignores (ASCII) case, as far as its lower() would; ILIKE's
    # lower() on every description costs more than the scan itself
    if like_ignores_case:
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def filters(
    *,
    search: str = "",
    status: VideoStatus | None = None,
    listed_only: bool = True,
    owner_id: str | None = None,
    like_ignores_case: bool = False,
) -> list[ColumnElement[bool]]:
    """The WHERE terms of a listing: privacy (or one owner's videos, of any privacy) and
    status, and every word of ``search`` in the title or the description."""
    where: list[ColumnElement[bool]] = []
    if owner_id is not None:
        where.append(Video.owner_id == owner_id)
    elif listed_only:
        where.append(Video.privacy == Privacy.PUBLIC)
    if status is not None:
        where.append(Video.status == status)
    words = search.split()[:MAX_SEARCH_WORDS]
    if not words:
        return where
    text = [
        or_(
            _contains(Video.title, word, like_ignores_case=like_ignores_case),
            _contains(Video.description, word, like_ignores_case=like_ignores_case),
        )
        for word in words
    ]
    if where:  # one expression, which no index serves: tested on each row of the scan
        text.append(and_(*where).is_(True))
    return text


def _search_page(
    where: list[ColumnElement[bool]], order: Order, *, limit: int, offset: int
) -> Select[Video, int]:
    """A search's page and its count of matches, from one scan of the table.

    The window count is taken before LIMIT, so it counts every match; the scan keeps only
    the sort keys of the matches (not whole rows: a search matching most of the library
    would sort megabytes of descriptions), and the page's rows are fetched by id after.
    A cursor page cannot do this: the cursor's WHERE would narrow the count.
    """
    keys = (
        seek(select(*order.columns, func.count().over().label("matches")), order, None)
        .where(*where)
        .limit(limit + 1)
        .offset(offset)
        .subquery()
    )
    sort = [keys.c[c.key] for c in order.columns]
    return (
        select(Video, keys.c.matches)
        .join(keys, keys.c.id == Video.id)
        .order_by(*(c.desc() if order.descending else c.asc() for c in sort))
    )


async def list_videos(
    s: AsyncSession,
    *,
    search: str = "",
    status: VideoStatus | None = None,
    sort: str = "newest",
    limit: int = 24,
    offset: int = 0,
    cursor: str | None = None,
    listed_only: bool = True,
    owner_id: str | None = None,
) -> Page:
    """A page of videos: from ``cursor`` (see :mod:`streamforge.library.paging`) or, for
    old links and simple clients, ``offset`` rows into the listing. ``owner_id``: that
    user's own videos, whatever their privacy."""
    order = order_named(sort)
    position = Cursor.decode(cursor, order) if cursor else None
    if position is not None and offset:
        raise InvalidRequest("give either cursor or offset, not both")
    where = filters(
        search=search,
        status=status,
        listed_only=listed_only,
        owner_id=owner_id,
        like_ignores_case=s.get_bind().dialect.name == "sqlite",
    )
    total: int | None = None
    if search.split() and position is None:
        found = (await s.execute(_search_page(where, order, limit=limit, offset=offset))).all()
        rows: list[Any] = [video for video, _ in found]
        total = found[0][1] if found else None
    else:
        query = seek(select(Video).where(*where), order, position)
        rows = list((await s.execute(query.limit(limit + 1).offset(offset))).scalars().all())
    if total is None:
        count = select(func.count()).select_from(Video).where(*where)
        total = (await s.execute(count)).scalar_one()
    window = page_rows(rows, order, position, limit=limit, offset=offset)
    return Page(
        items=window.rows,
        total=total,
        next_cursor=window.next_cursor,
        prev_cursor=window.prev_cursor,
    )
