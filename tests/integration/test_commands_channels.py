"""/channels and /follow, with and without a channel source; admin approval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import domain
from bot.commands import Caller, ChatKind
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, OTHER, button_data, ingest, make_kit, visible
from tests.integration.test_commands_kit import BORIS as RU_BORIS

pytestmark = pytest.mark.dates  # the commands read the real clock; posts are dated from it

ADMIN = 1001  # Alice's user id
BORIS = replace(RU_BORIS, language_code="en")  # the same second user, reading English


class FakeSource:
    """The user client's resolve(), faked at the network edge: known names resolve, others do not."""

    def __init__(self, known: dict[str, domain.ChannelRef]) -> None:
        self.known = known
        self.asked: list[str] = []

    async def resolve(self, link: str) -> domain.ChannelRef:
        from bot.ingest.channels import ChannelError

        self.asked.append(link)
        ref = self.known.get(link.lstrip("@").lower())
        if ref is None:
            raise ChannelError("not_found", f"No channel {link} exists.")
        return ref

    async def history(
        self, channel: domain.ChannelRef, *, min_id: int = 0, limit: int | None = None
    ) -> AsyncIterator[domain.Post]:
        for post in ():
            yield post


async def test_channels_follow_and_unfollow_buttons(db: Database) -> None:
    await ingest(db, [("a", timedelta(hours=1))])
    await ingest(db, [("b", timedelta(hours=1))], channel=OTHER)
    kit = make_kit(db)
    listing = await kit.say(ALICE, "/channels")
    text = visible(listing)
    assert "Watched channels: 2; you follow 2." in text
    assert "Other <news> & co" in text  # a channel title is escaped, never markup
    off = [d for d in button_data(listing) if d.startswith("c:off:")]
    assert len(off) == 2
    after = await kit.press(ALICE, off[0])
    assert "you follow 1." in visible(after) and after.toast and after.toast.startswith("Unfollowed")
    assert await kit.count(m.Subscription, m.Subscription.following.is_(False)) == 1
    on = next(d for d in button_data(after) if d.startswith("c:on:"))
    again = await kit.press(ALICE, on)
    assert "you follow 2." in visible(again)
    # Boris is unaffected by Alice's choices
    assert "вы читаете 2." in visible(await kit.say(RU_BORIS, "/channels"))
    # a channel id that is not watched
    assert (await kit.press(ALICE, "c:on:999999:0")).alert


async def test_follow_without_a_source_queues_for_an_admin(db: Database) -> None:
    kit = make_kit(db, admins=[ADMIN], max_channels=2)
    assert "Send a channel's public link" in visible(await kit.say(BORIS, "/follow"))
    bad = await kit.say(BORIS, "/follow https://example.com/x")
    assert "I can't watch that channel" in visible(bad) and "not a Telegram link" in visible(bad)
    invite = await kit.say(BORIS, "/follow https://t.me/+AbCdEf123456")
    assert "is an invite link; I can only add public channels" in visible(invite)
    queued = await kit.say(BORIS, "/follow https://t.me/NewsChan/42")
    assert "Asked for @newschan" in visible(queued)
    assert "already waiting" in visible(await kit.say(ALICE, "/follow @newschan"))
    await kit.say(BORIS, "/follow @second_chan")
    assert "the most allowed" in visible(await kit.say(BORIS, "/follow @third_chan"))
    async with db.uow(read_only=True) as session:
        rows = list(await session.scalars(select(m.Channel).order_by(m.Channel.id)))
    assert [(c.username, c.status, c.added_by) for c in rows] == [
        ("newschan", "pending", BORIS.chat_id),
        ("second_chan", "pending", BORIS.chat_id),
    ]
    # the admin approves one and rejects the other, by button
    assert "for the bot's administrators" in visible(await kit.say(BORIS, "/admin channels"))
    screen = await kit.say(ALICE, "/admin channels")
    assert "0 watched, 2 waiting for approval" in visible(screen)
    approve = next(d for d in button_data(screen) if d.startswith("a:ok:"))
    unable = await kit.press(ALICE, approve)  # nothing in this process can look the name up
    assert unable.alert and unable.toast and "tgmon channels add @newschan" in unable.toast
    source = FakeSource({"newschan": domain.ChannelRef(1400000001, "newschan", "News <Chan>")})
    kit = make_kit(db, source=source, admins=[ADMIN], approve_channels=True)
    assert (await kit.press(BORIS, approve)).alert  # not an admin
    approved = await kit.press(ALICE, approve)
    assert approved.toast == "Approved News <Chan>"
    assert "1 watched, 1 waiting for approval" in visible(approved)
    reject = next(d for d in button_data(approved) if d.startswith("a:no:"))
    await kit.press(ALICE, reject)
    async with db.uow(read_only=True) as session:
        rows = (
            await session.execute(
                select(m.Channel.username, m.Channel.status, m.Channel.telegram_id, m.Channel.added_by)
            )
        ).all()
    assert sorted(tuple(r) for r in rows) == [
        ("newschan", "active", 1400000001, BORIS.chat_id),  # resolved once, with its id: ingest takes it
        ("second_chan", "removed", None, BORIS.chat_id),
    ]
    async with db.uow(read_only=True) as session:  # the one who asked is told both answers
        told = list(await session.scalars(select(m.Outbox.text).where(m.Outbox.chat_id == BORIS.chat_id,
                                                                      m.Outbox.kind == "notice")))
    assert len(told) == 2
    assert "News &lt;Chan&gt; is watched now" in told[0] and "declined your request to watch @second_chan" in told[1]
    assert "is already watched" in visible(await kit.say(ALICE, "/follow t.me/newschan"))


async def test_follow_with_a_source_adds_at_once(db: Database) -> None:
    source = FakeSource({"vvgladkov": domain.ChannelRef(1302282372, "vvgladkov", "Гладков")})
    kit = make_kit(db, source=source)
    added = await kit.say(ALICE, "/follow https://t.me/vvgladkov")
    assert "Now watching Гладков" in visible(added)
    assert "is already watched" in visible(await kit.say(ALICE, "/follow @vvgladkov"))
    missing = await kit.say(ALICE, "/follow @nosuchchannel")
    assert "no channel @nosuchchannel exists on Telegram" in visible(missing)
    assert await kit.count(m.Channel) == 1

    approving = make_kit(db, source=source, approve_channels=True)
    ghost = await approving.say(BORIS, "/follow @nochannel_here")
    assert "no channel @nochannel_here exists on Telegram" in visible(ghost)  # never queued for the admins
    source.known["otherchannel"] = domain.ChannelRef(1400000003, "otherchannel", "Другой канал")
    queued = await approving.say(BORIS, "/follow @otherchannel")
    assert "Asked for @otherchannel" in visible(queued)
    assert source.asked == ["@vvgladkov", "@nosuchchannel", "@nochannel_here", "@otherchannel"]
    pending = await approving.count(m.Channel, m.Channel.status == "pending")
    assert pending == 1  # only the channel that exists waits for an admin


async def test_admin_commands(db: Database) -> None:
    await ingest(db, [("Батальон", timedelta(hours=1))])
    kit = make_kit(db, admins=[ADMIN])
    await kit.say(BORIS, "/watch батальон")
    assert "for the bot's administrators" in visible(await kit.say(BORIS, "/admin stats"))
    stats = visible(await kit.say(ALICE, "/admin stats"))
    assert "Subscribers: 1 active" in stats and "Rules: 1" in stats and "Posts: 1" in stats
    users = visible(await kit.say(ALICE, "/admin users"))
    assert str(BORIS.chat_id) in users
    assert "/admin stats" in visible(await kit.say(ALICE, "/admin"))
    assert "tgmon channels add @freshchan" in visible(await kit.say(ALICE, "/admin channels add @freshchan"))
    fresh = FakeSource({"freshchan": domain.ChannelRef(1400000002, "freshchan", "Fresh")})
    kit = make_kit(db, source=fresh, admins=[ADMIN])
    assert "Now watching Fresh" in visible(await kit.say(ALICE, "/admin channels add @freshchan"))
    assert "no channel @ghost exists" in visible(await kit.say(ALICE, "/admin channels add @ghost"))
    removed = await kit.say(ALICE, "/admin channels remove @freshchan")
    assert "Removed Fresh" in visible(removed)
    assert "No channel" in visible(await kit.say(ALICE, "/admin channels remove @ghost"))
    in_group = Caller(-100777, ALICE.user_id, ChatKind.GROUP, is_group_admin=True, language_code="en")
    assert "in a private chat" in visible(await kit.say(in_group, "/admin stats"))


async def test_invite_links_are_refused_in_every_language_and_never_suggested(db: Database) -> None:
    """The bot adds public channels only (an invite is joined by the monitoring account, on the
    server: `tgmon channels add t.me/+...`): /follow says so, queues nothing, and no text of the
    bot's offers an invite link as a form to send."""
    from bot.i18n import LANGUAGES, catalog_path

    kit = make_kit(db, admins=[ADMIN])
    expected = {"en": "is an invite link; I can only add public channels",
                "ru": "пригласительная ссылка, а я добавляю только публичные каналы",
                "uk": "запрошувальне посилання, а я додаю лише публічні канали"}
    for n, lang in enumerate(sorted(expected)):
        caller = Caller(chat_id=9100 + n, user_id=9100 + n, kind=ChatKind.PRIVATE, language_code=lang)
        for link in ("t.me/+AbCdEf123456", "https://t.me/joinchat/AbCdEf123456"):
            reply = visible(await kit.say(caller, f"/follow {link}"))
            assert expected[lang] in reply, (lang, reply)
    assert await kit.count(m.Channel) == 0
    for lang in LANGUAGES:
        text = catalog_path(lang).read_text("utf-8")
        assert "t.me/+" not in text and "joinchat" not in text, lang
    bad = visible(await kit.say(ALICE, "/follow Белгород!"))
    assert "t.me/+" not in bad and "invite" not in bad
