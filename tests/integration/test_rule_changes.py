"""A rule change in a process that never matches (a bot-only process) compiles nothing; a process
that has built its matcher applies it in place at once (many at once: a rebuild), and the new rule
matches the next post."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database

CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class CountingFactory:
    def __init__(self) -> None:
        self.builds = 0

    def __call__(self, rules: Iterable[domain.Rule]) -> domain.Matcher:
        self.builds += 1
        return compile_rules(rules)


async def _add_rule(db: Database, source: str) -> None:
    async with db.uow() as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == 1))
        if sub is None:
            sub = m.Subscriber(chat_id=1)
            session.add(sub)
            await session.flush()
        session.add(m.Rule(subscriber_id=sub.id, source=source, channels=[]))


async def test_a_process_that_never_matches_compiles_no_rules(db: Database) -> None:
    factory = CountingFactory()
    pipeline = Pipeline(db, factory)
    await _add_rule(db, "обстрел")
    await pipeline.rules_changed()
    await pipeline.rules_changed()
    assert factory.builds == 0


async def test_a_matching_process_applies_a_change_in_place_and_the_new_rule_matches(db: Database) -> None:
    factory = CountingFactory()
    pipeline = Pipeline(db, factory)
    await _add_rule(db, "обстрел")
    assert (await pipeline.ingest([domain.Post(CHANNEL, 1, T0, "Обстрел Шебекино")])).matches == 1
    assert factory.builds == 1
    serving = await pipeline.matcher()
    await _add_rule(db, "батальон")
    await pipeline.rules_changed()
    assert await pipeline.matcher() is serving and factory.builds == 1  # patched, not rebuilt
    assert (await pipeline.ingest([domain.Post(CHANNEL, 2, T0, "Два батальона у Шебекино")])).matches == 1
    async with db.uow() as session:  # an edit and a removal
        rules = {r.source: r for r in await session.scalars(select(m.Rule))}
        rules["обстрел"].source = "Шебекино"
        await session.delete(rules["батальон"])
    await pipeline.rules_changed()
    assert factory.builds == 1
    hits = await pipeline.ingest([domain.Post(CHANNEL, 3, T0, "Обстрел и батальон, Белгород")]), \
        await pipeline.ingest([domain.Post(CHANNEL, 4, T0, "В Шебекино тихо")])
    assert [h.matches for h in hits] == [0, 1]
    assert (await pipeline.matcher()).rule_ids() == {rules["обстрел"].id}


async def test_many_changes_at_once_rebuild(db: Database) -> None:
    factory = CountingFactory()
    pipeline = Pipeline(db, factory)
    await _add_rule(db, "обстрел")
    await pipeline.matcher()
    for n in range(Pipeline.INCREMENTAL_CHANGES + 1):
        await _add_rule(db, f"слово{n}")
    await pipeline.rules_changed()
    assert factory.builds == 2
    assert len((await pipeline.matcher()).rule_ids()) == Pipeline.INCREMENTAL_CHANGES + 2
