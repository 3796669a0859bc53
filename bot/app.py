"""The composition root: the only place that builds the database, pipeline and services."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage.database import Database


@dataclass
class App:
    settings: Settings
    db: Database
    pipeline: Pipeline

    async def close(self) -> None:
        await self.db.dispose()


async def build_app(settings: Settings, *, database_url: str | None = None, migrate: bool = True) -> App:
    db = Database.from_url(database_url or settings.database.url)
    if migrate:
        await db.upgrade()
    return App(settings=settings, db=db, pipeline=Pipeline(db, compile_rules))
