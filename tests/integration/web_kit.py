"""Shared pieces for the web view's tests (no tests here): the bot and the web app over one real
database, people signed in through the bot's own /web link, and a small archive ingested through the
real pipeline (two subscribers with their own rules, a repost, an edited and a deleted post)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from bot import domain
from bot.commands import BotCommands, Caller, ChatKind, CommandContext
from bot.config import BotSettings, Settings, WebSettings
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage.database import Database
from bot.web import create_web_app
from tests.integration.test_commands_kit import check_html

BASE = "http://tgmon.test"
ALICE = Caller(chat_id=1001, user_id=1001, kind=ChatKind.PRIVATE, language_code="en")
BORIS = Caller(chat_id=2002, user_id=2002, kind=ChatKind.PRIVATE, language_code="en")
ADMIN = Caller(chat_id=9009, user_id=9009, kind=ChatKind.PRIVATE, language_code="en")
NEWS = domain.ChannelRef(1302282372, "vvgladkov", "Гладков")
OTHER = domain.ChannelRef(1500000001, "otherchan", "Other <news> & co")


class Clock:
    """The test's clock: real time plus a shift the test sets (a link's expiry, a session's age)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    async def sleep(self, seconds: float) -> None:
        return None


@dataclass
class WebKit:
    db: Database
    bot: BotCommands
    clock: Clock
    app: object
    pipeline: Pipeline
    settings: Settings
    posts: dict[str, int] = field(default_factory=dict)  # post ids by a name the test gave them

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url=BASE, follow_redirects=False)

    async def say(self, caller: Caller, text: str) -> str:
        reply = await self.bot.handle_text(caller, text)
        assert reply is not None, text
        check_html(reply.text)
        return reply.text

    async def link(self, caller: Caller) -> str:
        """The sign-in link /web sends (its path)."""
        text = await self.say(caller, "/web")
        base = self.settings.web.base_url or BASE
        found = re.search(re.escape(base) + r"(/login/\S+)", text)
        assert found, text
        return found.group(1)

    async def signed_in(self, caller: Caller) -> httpx.AsyncClient:
        client = self.client()
        path = await self.link(caller)
        page = await client.get(path)
        assert page.status_code == 200 and 'method="post"' in page.text
        done = await client.post(path)
        assert done.status_code == 303, done.text
        assert "tgmon_session" in client.cookies
        return client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form token on the page"
    return found.group(1)


async def make_web_kit(db: Database, **web: object) -> WebKit:
    settings = Settings(
        bot=BotSettings(admins=[ADMIN.user_id], commands_per_minute=600, command_burst=100),
        web=WebSettings(**{"base_url": BASE, **web}),  # type: ignore[arg-type]
    )
    clock = Clock()
    pipeline = Pipeline(db, compile_rules)
    ctx = CommandContext(db=db, settings=settings, now=clock.now, rules_changed=pipeline.reload_rules)
    app = await create_web_app(db, settings, clock, ctx)
    return WebKit(db, BotCommands(ctx), clock, app, pipeline, settings)


async def ingest(kit: WebKit, name: str, channel: domain.ChannelRef, message_id: int, text: str,
                 age: timedelta, **extra: object) -> None:
    post = domain.Post(channel=channel, message_id=message_id, date=kit.clock.now() - age, text=text, **extra)  # type: ignore[arg-type]
    await kit.pipeline.ingest([post])
    from sqlalchemy import select

    from bot.storage import models as m

    async with kit.db.uow(read_only=True) as session:
        kit.posts[name] = int(await session.scalar(
            select(m.Post.id).join(m.Channel).where(m.Channel.telegram_id == channel.telegram_id,
                                                    m.Post.message_id == message_id)) or 0)


async def archive(kit: WebKit) -> None:
    """Alice watches батальон, Boris обстрел; posts for each, a repost, an edit and a deletion."""
    for caller, rule in ((ALICE, "батальон"), (BORIS, "обстрел")):
        await kit.say(caller, "/start")
        await kit.say(caller, f"/watch {rule}")
    await ingest(kit, "alice1", NEWS, 10, "Батальон вышел к Шебекино. x<y & AT&T", timedelta(hours=5))
    await ingest(kit, "alice_repost", OTHER, 11, "Батальон вышел к Шебекино. x<y & AT&T", timedelta(hours=4),
                 forward=domain.ForwardOrigin(NEWS.telegram_id, 10, "Гладков"))
    await ingest(kit, "boris1", NEWS, 12, "Обстрел Белгорода ночью", timedelta(hours=3))
    await ingest(kit, "edited", NEWS, 13, "Первый текст про батальоны", timedelta(hours=2))
    await ingest(kit, "edited", NEWS, 13, "Исправленный текст про батальоны", timedelta(hours=2),
                 edit_date=kit.clock.now() - timedelta(hours=1))
    await ingest(kit, "gone", NEWS, 14, "Батальон, удалённый пост", timedelta(hours=1))
    await ingest(kit, "gone", NEWS, 14, "Батальон, удалённый пост", timedelta(hours=1), deleted=True)
    await ingest(kit, "neutral", NEWS, 15, "Погода в Белгороде", timedelta(minutes=30))
