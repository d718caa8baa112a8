"""The Alembic chain on a real SQLite file and a real PostgreSQL database: up from empty,
down to nothing, up again, and the schema it builds is the one the models describe (indexes
included)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from streamforge.db.migrate import alembic_config
from streamforge.db.models import Base

T = TypeVar("T")


class Engine:
    """An async engine driven from these synchronous tests (PostgreSQL has only an async
    driver here): each call runs synchronous SQLAlchemy work in one transaction."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = create_async_engine(url)

    def run(self, work: Callable[[Connection], T]) -> T:
        async def go() -> T:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = Engine(database_url)
    yield engine
    engine.close()


def migrate(engine: Engine, direction: str, revision: str) -> None:
    engine.run(lambda conn: getattr(command, direction)(alembic_config(conn), revision))


def tables(engine: Engine) -> set[str]:
    return engine.run(lambda conn: set(inspect(conn).get_table_names()) - {"alembic_version"})


def columns(engine: Engine, table: str) -> set[str]:
    return engine.run(lambda conn: {c["name"] for c in inspect(conn).get_columns(table)})


def indexes(engine: Engine, table: str) -> dict[str, list[str | None]]:
    return engine.run(
        lambda conn: {
            i["name"]: i["column_names"] for i in inspect(conn).get_indexes(table) if i["name"]
        }
    )


def drift(engine: Engine) -> list[object]:
    return engine.run(
        lambda conn: list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    )


def test_the_chain_is_linear_and_holds_the_library_indexes() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    [head] = script.get_heads()
    chain = [(r.revision, r.down_revision) for r in script.walk_revisions()]  # head first
    assert chain[0][0] == head
    assert chain[-1] == ("0001", None)
    for (_, down), (below, _) in itertools.pairwise(chain):
        assert down == below  # each step sits on the one before: no branches
    assert ("0003", "0002") in chain


def test_upgrade_from_empty_builds_what_the_models_describe(engine: Engine) -> None:
    migrate(engine, "upgrade", "head")
    assert tables(engine) == set(Base.metadata.tables)
    assert drift(engine) == []
    assert indexes(engine, "videos") == {
        "ix_videos_listing_created": ["privacy", "created_at", "id", "status"],
        "ix_videos_listing_title": ["privacy", "title", "id", "status"],
        "ix_videos_listing_status": ["status", "privacy", "created_at", "id"],
    }
    assert indexes(engine, "jobs")["ix_jobs_created"] == ["created_at", "id"]


def test_downgrade_undoes_each_step_and_upgrade_redoes_it(engine: Engine) -> None:
    migrate(engine, "upgrade", "head")
    migrate(engine, "downgrade", "0003")
    assert "ix_videos_listing_title" in indexes(engine, "videos")  # batch mode kept them
    assert {"api_tokens", "login_sessions", "login_failures"}.isdisjoint(tables(engine))
    assert "media_epoch" not in columns(engine, "videos")
    migrate(engine, "downgrade", "0002")
    assert indexes(engine, "videos") == {
        "ix_videos_created_at": ["created_at"],
        "ix_videos_status": ["status"],
    }
    assert "ix_jobs_created" not in indexes(engine, "jobs")
    migrate(engine, "downgrade", "base")
    assert tables(engine) == set()
    migrate(engine, "upgrade", "head")
    assert tables(engine) == set(Base.metadata.tables)
    assert drift(engine) == []
