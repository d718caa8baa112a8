"""The Alembic chain on a real SQLite file: up from empty, down to nothing, up again, and
the schema it builds is the one the models describe (indexes included)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from streamforge.db.migrate import alembic_config
from streamforge.db.models import Base


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'chain.db'}")
    yield engine
    engine.dispose()


def migrate(engine: Engine, direction: str, revision: str) -> None:
    with engine.begin() as conn:
        getattr(command, direction)(alembic_config(conn), revision)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def indexes(engine: Engine, table: str) -> dict[str, list[str | None]]:
    return {i["name"]: i["column_names"] for i in inspect(engine).get_indexes(table) if i["name"]}


def drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


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
    assert "media_epoch" not in {c["name"] for c in inspect(engine).get_columns("videos")}
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
