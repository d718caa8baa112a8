"""Engine and sessions, on SQLite (embedded) or PostgreSQL (scale-out, through asyncpg).

SQLite runs in WAL mode with a busy timeout and ``BEGIN IMMEDIATE`` write transactions (see
FACTS: a read-then-write transaction in WAL can otherwise fail with SQLITE_BUSY_SNAPSHOT
whatever the timeout), which also makes every write transaction run alone.

PostgreSQL runs at READ COMMITTED, so write transactions overlap: code that reads rows and
then changes them either re-checks what it read in the UPDATE's WHERE (a conditional UPDATE
and its rowcount) or locks the rows it read (``SELECT … FOR UPDATE SKIP LOCKED``, which
SQLite ignores). ``busy_timeout`` becomes the server's ``lock_timeout``; pooled connections
are checked before use (a restarted server or a dropped connection is not an error).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from streamforge.db.urls import normalize_database_url
from streamforge.errors import ConfigError, StreamForgeError

if TYPE_CHECKING:
    from streamforge.config import Settings

#: Execution option marking a read-only transaction (see :meth:`Database.read`).
READ_ONLY = "streamforge_read_only"

#: Seconds to wait for a PostgreSQL connection (TCP connect and handshake).
PG_CONNECT_TIMEOUT = 10.0
#: Key of the advisory lock held while migrating, so that web nodes and workers starting
#: together bring the schema up one at a time (any fixed 64-bit number, unique to us).
MIGRATION_LOCK = 0x5F_5354_5246_4F52  # "_STRFOR"


class DatabaseError(StreamForgeError):
    """The database is unreachable or its schema cannot be brought up to date."""


class Database:
    """One engine and its session factory."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 15.0,
        pool_size: int = 5,
        max_overflow: int = 5,
        echo: bool = False,
    ) -> None:
        try:
            url = normalize_database_url(url)
            parsed = make_url(url)
        except (ValueError, ArgumentError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else "not a database URL"
            raise ConfigError(f"[database] url: {reason}, found {_redacted(url)!r}") from None
        self.url = url
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout}
        else:
            kwargs.update(
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=max_overflow,
                # a server-side idle timeout or a NAT may drop idle connections
                pool_recycle=1800,
                connect_args={
                    "timeout": PG_CONNECT_TIMEOUT,
                    "server_settings": {
                        "application_name": "streamforge",
                        "lock_timeout": str(int(busy_timeout * 1000)),
                    },
                },
            )
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine, busy_timeout)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def of(cls, settings: Settings) -> Database:
        """The database ``settings`` name, with their ``[database]`` settings.

        PostgreSQL: each Database is its own connection pool (one per process for the web
        app, one per job thread, since each thread runs its own event loop)."""
        section = settings.database
        return cls(
            settings.database_url,
            busy_timeout=section.busy_timeout,
            pool_size=section.pool_size,
            max_overflow=section.max_overflow,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success and rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only session: on SQLite a plain (deferred) BEGIN, so concurrent readers
        never queue for the write lock the way ``session()``'s BEGIN IMMEDIATE does; on
        PostgreSQL a READ ONLY transaction (a write in it is an error). With ``snapshot``,
        every query sees the database as of the first (PostgreSQL: REPEATABLE READ;
        SQLite's transactions always do)."""
        async with self.sessionmaker() as session:
            options: dict[str, Any] = {READ_ONLY: True}
            if not self.is_sqlite:
                options["postgresql_readonly"] = True
                if snapshot:
                    options["isolation_level"] = "REPEATABLE READ"
            await session.connection(execution_options=options)
            try:
                yield session
            finally:
                await session.rollback()

    async def serialize(self, session: AsyncSession, lock: int) -> None:
        """Make transactions that check, then write (``lock`` names which) run one at a
        time: a transaction-scoped advisory lock on PostgreSQL; nothing to do on SQLite,
        whose ``session()`` already holds the database's one write lock."""
        if not self.is_sqlite:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})

    @asynccontextmanager
    async def try_lock(self, lock: int) -> AsyncIterator[bool]:
        """Hold the named lock for the block if no other process holds it: yields whether
        this one got it (then others get False until the block ends). A session-level
        advisory lock on PostgreSQL; always True on SQLite, whose processes share one
        machine and whose write transactions already run one at a time."""
        if self.is_sqlite:
            yield True
            return
        async with self.engine.connect() as conn:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock}))
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
                    await conn.commit()

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``)."""
        from streamforge.db.migrate import upgrade

        try:
            async with self.engine.begin() as conn:
                if not self.is_sqlite:  # (SQLite: BEGIN IMMEDIATE already runs one at a time)
                    # wait for another node's migration however long it takes
                    await conn.execute(text("SET LOCAL lock_timeout = 0"))
                    await conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                await conn.run_sync(upgrade)
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(f"cannot migrate the database at {self.safe_url}: {exc}") from exc

    async def check(self) -> None:
        """Raise :class:`DatabaseError` unless the database answers a query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(f"database {self.safe_url} unreachable: {exc}") from exc

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden (safe to print and log)."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not shown: it does not parse)" if "@" in url else url


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
