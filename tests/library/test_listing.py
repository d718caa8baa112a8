"""The library listing on a real SQLite file and a real PostgreSQL database: cursors,
search, filters; SQLite's query plans."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from streamforge.db.models import Privacy, Video, VideoStatus
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest
from streamforge.library import listing

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite file, for the tests of SQLite's query plans."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    await database.migrate()
    yield database
    await database.close()


async def add(db: Database, *videos: dict[str, Any]) -> None:
    async with db.session() as s:
        for fields in videos:
            s.add(Video(status=fields.pop("status", VideoStatus.READY), **fields))


def many(count: int) -> list[dict[str, Any]]:
    """Videos with repeated creation times and titles, so the id tiebreak matters."""
    return [
        {
            "id": f"v{n:03d}",
            "title": f"Clip {n % 4}",
            "created_at": T0 + timedelta(minutes=n // 3),
        }
        for n in range(count)
    ]


def expected(videos: list[dict[str, Any]], sort: str) -> list[str]:
    if sort == "title":
        return [v["id"] for v in sorted(videos, key=lambda v: (v["title"], v["id"]))]
    ordered = sorted(videos, key=lambda v: (v["created_at"], v["id"]))
    return [v["id"] for v in (reversed(ordered) if sort == "newest" else ordered)]


@dataclass(frozen=True)
class Seen:
    ids: list[str]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


async def page(db: Database, **kwargs: Any) -> Seen:
    async with db.read() as s:
        found = await listing.list_videos(s, **kwargs)
        ids = [v.id for v in found.items]
    return Seen(ids, found.total, found.next_cursor, found.prev_cursor)


@pytest.mark.parametrize("sort", ["newest", "oldest", "title"])
async def test_cursors_walk_every_video_once_both_ways(db: Database, sort: str) -> None:
    videos = many(23)
    await add(db, *[dict(v) for v in videos])
    pages: list[list[str]] = []
    cursor = None
    while True:
        found = await page(db, sort=sort, limit=5, cursor=cursor)
        assert found.total == 23
        pages.append(found.ids)
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert [i for p in pages for i in p] == expected(videos, sort)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]

    back: list[list[str]] = [pages[-1]]
    prev = found.prev_cursor
    while prev is not None:
        found = await page(db, sort=sort, limit=5, cursor=prev)
        back.append(found.ids)
        prev = found.prev_cursor
    assert back == list(reversed(pages))
    assert found.next_cursor is not None  # the first page, reached backwards, leads on


async def test_cursor_pages_neither_skip_nor_repeat_when_videos_arrive(db: Database) -> None:
    await add(db, *many(10))
    first = await page(db, limit=4)
    # two newer videos arrive: an offset-based second page would repeat two rows
    await add(
        db,
        {"id": "new1", "title": "New", "created_at": T0 + timedelta(days=1)},
        {"id": "new2", "title": "New", "created_at": T0 + timedelta(days=2)},
    )
    second = await page(db, limit=4, cursor=first.next_cursor)
    by_offset = await page(db, limit=4, offset=4)
    seen = first.ids
    assert not set(second.ids) & set(seen)
    assert second.ids == expected(many(10), "newest")[4:8]
    assert set(by_offset.ids) & set(seen)  # what cursors avoid


async def test_offset_pages_still_work_and_offer_cursors(db: Database) -> None:
    await add(db, *many(12))
    found = await page(db, sort="title", limit=5, offset=5)
    assert found.ids == expected(many(12), "title")[5:10]
    assert found.prev_cursor is not None
    assert found.next_cursor is not None
    after = await page(db, sort="title", limit=5, cursor=found.next_cursor)
    assert after.ids == expected(many(12), "title")[10:]
    assert after.next_cursor is None


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("not-base64!", "cursor is not a cursor of the 'newest' sort"),
        (base64.urlsafe_b64encode(b'["title",0,["a","b"]]').decode(), "of the 'newest' sort"),
        (base64.urlsafe_b64encode(b'["newest",0,["yesterday","b"]]').decode(), "invalid time"),
        (base64.urlsafe_b64encode(b'["newest",0,["2026-01-01T00:00:00","b"]]').decode(), "zone"),
        (base64.urlsafe_b64encode(b'["newest",0,[{"a":1},"b"]]').decode(), "not a cursor"),
    ],
)
async def test_bad_cursors_are_refused_clearly(db: Database, cursor: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await page(db, cursor=cursor)


async def test_cursor_and_offset_together_are_refused(db: Database) -> None:
    await add(db, *many(3))
    cursor = (await page(db, limit=1)).next_cursor
    with pytest.raises(InvalidRequest, match="either cursor or offset"):
        await page(db, cursor=cursor, offset=1)


@pytest.mark.parametrize("like_ignores_case", [True, False])
async def test_search_filters_the_same_with_like_and_ilike(
    db: Database, like_ignores_case: bool
) -> None:
    # LIKE is what SQLite gets, ILIKE what PostgreSQL gets: both must mean the same
    # (PostgreSQL's LIKE keeps case, so there it is always given ILIKE)
    like_ignores_case = like_ignores_case and db.is_sqlite
    await add(
        db,
        {"id": "a", "title": "Rome by Night", "created_at": T0},
        {"id": "b", "title": "Cats", "description": "a ROME trip", "created_at": T0},
        {"id": "c", "title": "Rome, private", "privacy": Privacy.PRIVATE, "created_at": T0},
        {"id": "d", "title": "Rome, failed", "status": VideoStatus.FAILED, "created_at": T0},
        {"id": "e", "title": "50% off_sale", "created_at": T0},
        {"id": "f", "title": "500 offXsale", "created_at": T0},
    )

    async def ids(search: str, status: VideoStatus | None = None) -> set[str]:
        where = listing.filters(search=search, status=status, like_ignores_case=like_ignores_case)
        async with db.read() as s:
            rows = await s.execute(select(Video.id).where(*where))
            return set(rows.scalars())

    assert await ids("rome") == {"a", "b", "d"}
    assert await ids("ROME night") == {"a"}
    assert await ids("rome", VideoStatus.FAILED) == {"d"}
    assert await ids("%") == {"e"}
    assert await ids("off_sale") == {"e"}


class Plans:
    """The SQLite query plans of the statements a block runs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements: list[tuple[str, Any]] = []

    def _seen(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT"):
            self.statements.append((statement, params))

    async def __aenter__(self) -> Plans:
        event.listen(self.db.engine.sync_engine, "before_cursor_execute", self._seen)
        return self

    async def __aexit__(self, *exc: object) -> None:
        event.remove(self.db.engine.sync_engine, "before_cursor_execute", self._seen)

    async def explain(self) -> list[list[str]]:
        plans = []
        async with self.db.engine.connect() as conn:
            for statement, params in self.statements:
                if "FROM renditions" in statement:
                    continue
                rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                plans.append([row[3] for row in rows])
        return plans


@pytest.mark.parametrize(
    ("sort", "status", "index"),
    [
        ("newest", None, "ix_videos_listing_created"),
        ("oldest", None, "ix_videos_listing_created"),
        ("title", None, "ix_videos_listing_title"),
        ("newest", VideoStatus.FAILED, "ix_videos_listing_status"),
        ("oldest", VideoStatus.FAILED, "ix_videos_listing_status"),
        ("title", VideoStatus.FAILED, "ix_videos_listing_title"),
    ],
)
async def test_listing_pages_and_counts_read_a_listing_index(
    sqlite_db: Database, sort: str, status: VideoStatus | None, index: str
) -> None:
    await add(sqlite_db, *many(6))
    cursor = (await page(sqlite_db, sort=sort, limit=2)).next_cursor
    async with Plans(sqlite_db) as plans:
        await page(sqlite_db, sort=sort, status=status, limit=2, cursor=cursor)
        await page(sqlite_db, sort=sort, status=status, limit=2, offset=2)
    seeked, count, offset, count_again = await plans.explain()
    for plan in (count, count_again):  # the index alone answers
        assert plan == [plan[0]], plan
        assert plan[0].startswith("SEARCH videos USING COVERING INDEX ix_videos_listing_"), plan
    for plan in (seeked, offset):  # one index range in order: no scan, no sorting step
        assert plan == [plan[0]], plan
        assert plan[0].startswith(f"SEARCH videos USING INDEX {index} ("), plan
    assert "=? AND (" in seeked[0]  # the cursor is a seek, not a filter


@pytest.mark.parametrize("sort", ["newest", "title"])
async def test_a_search_reads_the_table_once_instead_of_walking_an_index(
    sqlite_db: Database, sort: str
) -> None:
    await add(sqlite_db, *many(6))
    first = await page(sqlite_db, search="clip", sort=sort, status=VideoStatus.READY, limit=2)
    async with Plans(sqlite_db) as plans:
        await page(sqlite_db, search="clip", sort=sort, status=VideoStatus.READY, limit=2)
        await page(sqlite_db, search="clip", sort=sort, limit=2, cursor=first.next_cursor)
    first_page, *cursor_page = await plans.explain()
    # the first page counts its matches in its own scan; a cursor page needs a count of its own
    assert len(cursor_page) == 2
    for plan in (first_page, *cursor_page):
        assert "SCAN videos" in plan, plan
        assert "listing" not in " ".join(plan), plan


@pytest.mark.parametrize("sort", ["newest", "oldest", "title"])
async def test_a_search_counts_every_match_on_every_page(db: Database, sort: str) -> None:
    videos = many(23)
    for n, video in enumerate(videos):
        video["description"] = "with a kite" if n % 3 else "without"
    await add(db, *[dict(v) for v in videos])
    kites = [i for i in expected(videos, sort) if int(i[1:]) % 3]
    seen, cursor, offset_totals = [], None, []
    while True:
        found = await page(db, search="KITE", sort=sort, limit=4, cursor=cursor)
        assert found.total == len(kites) == 15
        seen += found.ids
        if (cursor := found.next_cursor) is None:
            break
    assert seen == kites
    for offset in (0, 8, 14, 15, 40):
        found = await page(db, search="kite", sort=sort, limit=4, offset=offset)
        offset_totals.append(found.total)
        assert found.ids == kites[offset : offset + 4]
    assert offset_totals == [15] * 5  # also past the end, where the page has no row to count
