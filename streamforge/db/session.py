"""Engine and sessions. SQLite runs in WAL mode with a busy timeout and ``BEGIN IMMEDIATE``
write transactions (see FACTS: a read-then-write transaction in WAL can otherwise fail with
SQLITE_BUSY_SNAPSHOT whatever the timeout)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from streamforge.errors import ConfigError, StreamForgeError

#: Execution option marking a read-only transaction (see :meth:`Database.read`).
READ_ONLY = "streamforge_read_only"


class DatabaseError(StreamForgeError):
    """The database is unreachable or its schema cannot be brought up to date."""


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, busy_timeout: float = 15.0, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:
            raise ConfigError(f"[database] url: not a database URL: {url!r}") from exc
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine, busy_timeout)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success and rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session: on SQLite a plain (deferred) BEGIN, so concurrent readers
        never queue for the write lock the way ``session()``'s BEGIN IMMEDIATE does."""
        async with self.sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY: True})
            try:
                yield session
            finally:
                await session.rollback()

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``)."""
        from streamforge.db.migrate import upgrade

        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(upgrade)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot migrate the database at {self.safe_url}: {exc}") from exc

    async def check(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(f"database {self.safe_url} unreachable: {exc}") from exc

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_setup(engine: AsyncEngine, busy_timeout: float) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that we can issue BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
