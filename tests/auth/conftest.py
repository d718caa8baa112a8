from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamforge.db.session import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A real, migrated SQLite file."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}")
    await database.migrate()
    yield database
    await database.close()
