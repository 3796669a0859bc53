"""Alembic environment. The app passes its own connection (bot.storage.migrate); the `alembic`
command line builds one from TGMON_DATABASE_URL or the settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.storage.models import Base

target_metadata = Base.metadata


def lemma_text(text: str) -> str:
    """A post's lemma_text as the running code writes and searches it. The migrations that fill
    lemma_text (0003's upgrade, 0012's downgrade) take it from ``config.attributes["lemma_text"]``
    and import no bot.* code themselves: their SQL is a frozen copy, but lemma_text is data in the
    running code's format (bot.matching.index.INDEX_VERSION; `tgmon reindex` rebuilds it), so this
    is the one thing they must not freeze. Imported when a fill runs, not when migrations load."""
    from bot.matching.index import index_text

    return index_text(text)


def _run(connection: Connection) -> None:
    context.config.attributes.setdefault("lemma_text", lemma_text)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from bot.config import load_settings
    from bot.storage.database import make_engine

    engine = make_engine(load_settings().database)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
