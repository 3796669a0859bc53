"""TelethonSource at its edge: every way a link can fail, with REAL Telethon errors, stores nothing;
the run loop reconnects, gap-fills after each reconnect, and stops for good on a dead session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from telethon import errors
from telethon.tl import types

from bot import domain
from bot.ingest.channels import ChannelError, add_channel
from bot.ingest.service import IngestService
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.repos import count
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import T0, FakeClock, FakeTelegram, channel_entity, make_app, message

USER = types.User(id=5, first_name="Ivan", username="ivan_user")
BOT = types.User(id=6, first_name="Helper", username="helperbot", bot=True)


def _telegram() -> FakeTelegram:
    tg = FakeTelegram()
    tg.add_channel(channel_entity())
    tg.entities["ivan_user"] = USER
    tg.entities["helperbot"] = BOT
    tg.entities["secretchan"] = errors.ChannelPrivateError(request=None)
    tg.entities["bannedchan"] = errors.ChannelBannedError(request=None)
    tg.entities["kickedchan"] = errors.UserBannedInChannelError(request=None)
    tg.entities["badname"] = errors.UsernameInvalidError(request=None)
    tg.entities["busyname"] = errors.FloodWaitError(request=None, capture=420)
    tg.entities["forbidden"] = types.ChannelForbidden(id=77, access_hash=1, title="Closed")
    tg.entities["smallgroup"] = types.Chat(id=88, title="Family", photo=types.ChatPhotoEmpty(), participants_count=3,
                                           date=T0, version=1)
    tg.invites["ExpiredHash1"] = errors.InviteHashExpiredError(request=None)
    tg.invites["GroupInvite1"] = types.ChatInvite(title="A group", photo=types.PhotoEmpty(id=0),
                                                  participants_count=4, color=0, channel=False)
    return tg


BAD_LINKS = [
    ("@nosuchchannel", "not_found", "No channel @nosuchchannel exists on Telegram"),
    ("t.me/badname", "not_found", "not a valid Telegram username"),
    ("ivan_user", "is_user", "@ivan_user is a user, not a channel"),
    ("https://t.me/helperbot", "is_user", "@helperbot is a bot, not a channel"),
    ("t.me/s/secretchan", "private", "@secretchan is private"),
    ("forbidden", "private", "private or has banned"),
    ("@bannedchan", "banned", "has banned the monitoring account"),
    ("@kickedchan", "banned", "has banned the monitoring account"),
    ("@busyname", "flood_wait", "wait 420 s"),
    ("smallgroup", "invalid", "small group chat"),
    ("-1009999999999", "not_found", "never seen channel id 9999999999"),
    ("t.me/+ExpiredHash1", "private", "has expired or was revoked"),
    ("https://t.me/joinchat/UnknownHash9", "not_found", "is not valid"),
    ("t.me/+GroupInvite1", "invalid", "group chat, not a channel"),
    ("t.me/addstickers/Pack", "invalid", "sticker set"),
    ("https://example.org/vvgladkov", "invalid", "not a Telegram link"),
    ("@x", "invalid", "not a valid username"),
]


async def test_every_bad_link_gets_its_message_and_stores_nothing(db: Database) -> None:
    """One database for all forms (a migrated database per form made the suite slow)."""
    source = TelethonSource(_telegram(), FakeClock())
    for link, code, says in BAD_LINKS:
        with pytest.raises(ChannelError) as err:
            await add_channel(db, source, link)
        assert (err.value.code, link) == (code, link)
        assert says in err.value.message, (link, err.value.message)
        if code == "flood_wait":
            assert err.value.retry_after == 420
        async with db.uow(read_only=True) as s:
            assert await count(s, m.Channel) == 0, link


async def test_invite_link_joins_and_resolves(db: Database) -> None:
    tg = _telegram()
    private = channel_entity(4242, None, "Закрытый канал")
    tg.add_channel(private)
    tg.invites["GoodHash123"] = types.ChatInvite(title="Закрытый канал", photo=types.PhotoEmpty(id=0),
                                                 participants_count=10, color=0, channel=True, broadcast=True)
    tg.invites["GoodHash123"].chat = private  # what ImportChatInvite returns in the fake
    ref = await add_channel(db, TelethonSource(tg, FakeClock()), "https://t.me/+GoodHash123")
    assert ref == domain.ChannelRef(4242, None, "Закрытый канал")


async def test_numeric_id_resolves_when_the_session_knows_it(db: Database) -> None:
    ref = await add_channel(db, TelethonSource(_telegram(), FakeClock()), "-1001302282372")
    assert ref == domain.ChannelRef(1302282372, "vvgladkov", "Вячеслав Гладков")


class GatedClock(FakeClock):
    """Sleeps block until the test lets time pass (so the gap-fill timer does not spin)."""

    def __init__(self) -> None:
        super().__init__()
        self.tick = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.tick.wait()
        self.tick.clear()


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_run_gap_fills_at_start_after_reconnect_and_on_the_timer(db: Database) -> None:
    tg = _telegram()
    tg.history[1302282372] = [message(1, "one")]
    clock = GatedClock()
    app = await make_app(db, clock)
    source = TelethonSource(tg, clock)
    await add_channel(db, source, "vvgladkov")
    service = IngestService(app, source)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))

    async def stored() -> int:
        async with db.uow(read_only=True) as s:
            return await count(s, m.Post)

    await _until(lambda: len(tg.history_offsets()) >= 1 and len(clock.sleeps) >= 1)  # start: backfilled
    assert await stored() == 1
    tg.publish(message(2, "two"))
    clock.tick.set()  # the gap fill timer fires
    await _until(lambda: len(clock.sleeps) >= 2)
    assert await stored() == 2
    tg.publish(message(3, "three"))
    tg.drop()  # the connection drops: reconnect after a backoff pause, then gap fill
    await _until(lambda: len(clock.sleeps) >= 3)
    assert clock.sleeps[2] == 1.0  # the first backoff step
    clock.tick.set()
    await _until(lambda: len(clock.sleeps) >= 4)
    assert await stored() == 3
    stop.set()
    clock.tick.set()
    await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    "exc",
    [errors.AuthKeyDuplicatedError(request=None), errors.AuthKeyUnregisteredError(request=None),
     errors.SessionRevokedError(request=None)],
)
async def test_a_dead_session_stops_the_service_with_a_clear_message(db: Database, exc: Exception) -> None:
    tg = _telegram()
    await add_channel(db, TelethonSource(tg, FakeClock()), "vvgladkov")
    tg.history_errors = [exc]
    service = IngestService(await make_app(db, FakeClock()), TelethonSource(tg, FakeClock()))
    with pytest.raises(domain.SessionEndedError) as err:
        await asyncio.wait_for(service.run(asyncio.Event()), 5)
    assert "tgmon login" in str(err.value)
    assert len(tg.history_offsets()) == 1  # no restart loop


async def test_not_logged_in_says_what_to_do(db: Database) -> None:
    tg = _telegram()
    tg.authorized = False
    service = IngestService(await make_app(db, FakeClock()), TelethonSource(tg, FakeClock()))
    with pytest.raises(domain.SessionEndedError, match="tgmon login"):
        await asyncio.wait_for(service.run(asyncio.Event()), 5)


async def test_connection_refused_is_retried_with_growing_backoff(db: Database) -> None:
    tg = _telegram()
    tg.connect_error = ConnectionError("refused")
    clock = FakeClock()
    service = IngestService(await make_app(db, clock), TelethonSource(tg, clock))
    stop = asyncio.Event()

    async def stop_later() -> None:
        await _until(lambda: len(clock.sleeps) >= 5)
        stop.set()

    await asyncio.wait_for(asyncio.gather(service.run(stop), stop_later()), 5)
    assert clock.sleeps[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
