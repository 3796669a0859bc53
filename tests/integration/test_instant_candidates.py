"""The instant loop's look (bot/storage/digests.instant_candidates) on SQLite and PostgreSQL: only the
subscribers with an unsent instant-stream match stored in the window it asks about."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.storage import digests
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_storage_digests import T0, _world


async def test_the_instant_look_reads_the_matches_stored_since_it_last_looked(db: Database) -> None:
    w = await _world(db)  # Ann's matches stored at +2 h ... +6 h; Bob's unsent ones at +3 h and +4 h
    now = T0 + timedelta(hours=10)
    async with db.uow() as session:
        assert await digests.instant_candidates(session, T0, now) == []  # daily subscribers: not instant
        await session.execute(update(m.Subscriber).values(frequency="instant"))
        assert await digests.instant_candidates(session, T0 + timedelta(hours=5, minutes=30), now) == [w["ann"]]
        assert sorted(await digests.instant_candidates(session, T0 + timedelta(hours=3, minutes=30), now)) == sorted(
            [w["ann"], w["bob"]])
        # not after `now`; not what Bob was sent already (his watermark is +2 h)
        assert await digests.instant_candidates(session, T0 + timedelta(hours=3, minutes=30),
                                                T0 + timedelta(hours=3, minutes=45)) == []
        assert await digests.instant_candidates(session, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == [w["ann"]]
        await session.execute(update(m.Subscriber).where(m.Subscriber.id == w["bob"]).values(paused=True))
        assert await digests.instant_candidates(session, T0 + timedelta(hours=3, minutes=30), now) == [w["ann"]]
        await session.execute(update(m.Rule).where(m.Rule.id == w["rule"]).values(delivery="daily"))
        # Ann's muted rule matched at +4 h: muted, so nothing; her other rule now goes daily
        assert await digests.instant_candidates(session, T0 + timedelta(hours=3, minutes=30), now) == []
