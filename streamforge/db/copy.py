"""Copy a whole database into a new, empty one: how a library that started on the embedded
SQLite file moves to PostgreSQL (or back) without losing a row.

Both schemas are first brought to the newest migration. Tables are copied parents first
(foreign-key order) in batches, all in one transaction on the target, so a copy that
fails leaves the target as empty as it found it. On PostgreSQL the id sequences are then
moved past the copied ids. The source is read in one snapshot transaction; stop ``serve``
and the workers first, or what they write meanwhile is not copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from streamforge.db.models import Base
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest

#: Rows sent to the target per INSERT.
BATCH = 500


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


async def copy_database(
    source: Database, target: Database, *, on_table: Callable[[Copied], None] | None = None
) -> list[Copied]:
    """Copy every row of ``source`` into ``target``, which must hold no rows yet."""
    if source.url == target.url:
        raise InvalidRequest("the target database is the configured database itself")
    await source.migrate()
    await target.migrate()
    tables = Base.metadata.sorted_tables
    async with target.read() as s:
        for table in tables:
            if (await s.execute(select(func.count()).select_from(table))).scalar_one():
                raise InvalidRequest(
                    f"the target database is not empty (table {table.name} has rows); "
                    "copy into a new, empty database"
                )
    copied = []
    async with source.read(snapshot=True) as src, target.session() as dst:
        for table in tables:
            rows = 0
            result = await src.stream(select(table))
            async for batch in result.partitions(BATCH):
                await dst.execute(table.insert(), [dict(row._mapping) for row in batch])
                rows += len(batch)
            copied.append(Copied(table.name, rows))
            if on_table is not None:
                on_table(copied[-1])
        if target.dialect == "postgresql":
            for table in tables:
                await _move_sequence(dst, table)
    return copied


async def _move_sequence(session: AsyncSession, table: Table) -> None:
    """Make the next generated id of ``table`` come after the copied ones."""
    column = table.autoincrement_column
    if column is None:
        return
    statement = text(
        f"SELECT setval(pg_get_serial_sequence(:table, :column), "
        f'coalesce(max("{column.name}"), 0) + 1, false) FROM "{table.name}"'
    )
    await session.execute(statement, {"table": table.name, "column": column.name})
