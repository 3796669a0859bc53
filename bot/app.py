"""The composition root: the only place that builds the database, pipeline and services.

`tgmon run` (bot/runtime) adds the Telegram clients and the services of each role on top of this.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import MAIN_ACCOUNT, Settings
from bot.domain import Clock
from bot.ingest.pipeline import Pipeline
from bot.ingest.rule_watch import RuleChangeWatcher
from bot.matching import compile_rules
from bot.storage.database import Database
from bot.storage.wakeups import Wakeups, for_database

if TYPE_CHECKING:
    from bot.telegram.source import TelethonSource


def system_clock() -> Clock:
    from bot.delivery.clock import SystemClock

    return SystemClock()


@dataclass
class App:
    settings: Settings
    db: Database
    pipeline: Pipeline
    clock: Clock = field(default_factory=system_clock)
    # the wake-ups between processes (LISTEN/NOTIFY on PostgreSQL); the roles that wait start it
    wakeups: Wakeups = field(default_factory=Wakeups)

    def telegram_source(self, account: str = MAIN_ACCOUNT) -> TelethonSource:
        """A monitoring account as a ChannelSource (not connected yet): its user client, on this
        app's clock. `tgmon run` shares one per process; `tgmon channels add` makes its own."""
        from bot.telegram.clients import make_user_client
        from bot.telegram.source import TelethonSource

        client = make_user_client(self.settings, account=account)
        return TelethonSource(client, self.clock, page_size=self.settings.ingest.page_size)

    async def close(self) -> None:
        """Stop background indexing and release the database. Posts not indexed yet stay pending for
        the next run's indexer; one-shot commands call `pipeline.flush_index()` first."""
        try:
            await self.pipeline.close()
            await self.wakeups.close()
        finally:
            await self.db.dispose()


async def build_app(settings: Settings, *, database_url: str | None = None, migrate: bool = True) -> App:
    db = Database.from_url(database_url or settings.database.url)
    if migrate:
        await db.upgrade_in_turns()  # processes starting together take turns on PostgreSQL
    from bot.instrument import MeteredPipeline
    from bot.matching.topics import available

    matcher = functools.partial(compile_rules, settings=settings.matching)
    embed = settings.matching.embed_posts and available()  # topic rules: the semantic extra
    return App(settings=settings, db=db,
               pipeline=MeteredPipeline(db, matcher, watcher=RuleChangeWatcher(db), embed_posts=embed),
               wakeups=for_database(db.engine.url.render_as_string(hide_password=False),
                                    listen=settings.database.listen))
