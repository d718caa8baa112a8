"""Alembic environment. StreamForge passes an open connection in ``config.attributes``;
``alembic`` run by hand uses ``STREAMFORGE_DATABASE_URL`` or the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from streamforge.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    from streamforge.config import find_config_path, load_settings
    from streamforge.db.session import Database

    settings = load_settings(find_config_path(None))
    db = Database(settings.database_url)

    async def go() -> None:
        async with db.engine.begin() as conn:
            await conn.run_sync(_run)
        await db.close()

    asyncio.run(go())


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_standalone()
