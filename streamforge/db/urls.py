"""Database URLs as people write them, turned into the async drivers StreamForge runs on.

Kept free of SQLAlchemy imports so that the config loader can check a URL cheaply.
"""

from __future__ import annotations

#: What a URL may start with, and the driver-qualified scheme it becomes.
SCHEMES = {
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",  # Heroku-style DATABASE_URL
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
}

URL_FORMS = (
    "postgresql://user:password@host:5432/name (also postgres:// or postgresql+asyncpg://) "
    "or sqlite:///path/to/file.db"
)


def normalize_database_url(url: str) -> str:
    """``url`` with its scheme replaced by the async driver's (``postgres://`` and
    ``postgresql://`` become ``postgresql+asyncpg://``, ``sqlite://`` becomes
    ``sqlite+aiosqlite://``). Raises ValueError naming the accepted forms for anything else.
    """
    scheme, sep, rest = url.partition("://")
    if not sep and url.startswith("sqlite:"):  # sqlite: alone, an in-memory database
        scheme, sep, rest = "sqlite", "://", ""
    target = SCHEMES.get(scheme.lower()) if sep else None
    if target is None:
        raise ValueError(f"must be a database URL: {URL_FORMS}")
    if target.startswith("postgresql") and not rest.partition("?")[0].strip("/"):
        raise ValueError(f"names no server: {URL_FORMS}")
    return f"{target}://{rest}"
