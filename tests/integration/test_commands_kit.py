"""Shared pieces for the command tests (no tests here): a context on a real database, callers,
posts through the real pipeline, and a check that a reply survives Telethon's own HTML parser."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from telethon.extensions import html as tl_html

from bot import domain
from bot.commands import BotCommands, Caller, ChatKind, CommandContext, Reply
from bot.config import BotSettings, Settings
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database

NOW = datetime.now(UTC).replace(microsecond=0)  # digests cover matches up to "now": keep it real
ALICE = Caller(chat_id=1001, user_id=1001, kind=ChatKind.PRIVATE, language_code="en")
BORIS = Caller(chat_id=2002, user_id=2002, kind=ChatKind.PRIVATE, language_code="ru")
CHANNEL = domain.ChannelRef(1302282372, "vvgladkov", "Гладков")
OTHER = domain.ChannelRef(1500000001, "otherchan", "Other <news> & co")


class Ticker:
    """A monotonic clock the test moves by hand (rate limits, pending inputs)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@dataclass
class Kit:
    db: Database
    bot: BotCommands
    ctx: CommandContext
    ticker: Ticker
    reloads: list[int] = field(default_factory=list)

    async def say(self, caller: Caller, text: str) -> Reply:
        reply = await self.bot.handle_text(caller, text)
        assert reply is not None, text
        check_html(reply.text)
        return reply

    async def press(self, caller: Caller, data: str) -> Reply:
        reply = await self.bot.handle_button(caller, data)
        assert reply is not None, data
        check_html(reply.text)
        return reply

    async def count(self, model: type[m.Base], *where: object) -> int:
        async with self.db.uow(read_only=True) as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def make_kit(db: Database, source: domain.ChannelSource | None = None, **bot_settings: object) -> Kit:
    settings = Settings(bot=BotSettings(**{"commands_per_minute": 600, "command_burst": 100, **bot_settings}))  # type: ignore[arg-type]
    ticker = Ticker()
    pipeline = Pipeline(db, compile_rules)
    reloads: list[int] = []

    async def reload() -> None:
        await pipeline.reload_rules()
        reloads.append(1)

    ctx = CommandContext(
        db=db,
        settings=settings,
        now=lambda: datetime.now(UTC),
        source=source,
        rules_changed=reload,
        monotonic=ticker,
    )
    return Kit(db, BotCommands(ctx), ctx, ticker, reloads)


async def ingest(
    db: Database, texts: Sequence[tuple[str, timedelta]], channel: domain.ChannelRef = CHANNEL
) -> None:
    """Posts `age` before NOW, through the real pipeline (store, index, match)."""
    posts = [
        domain.Post(channel=channel, message_id=100 + i, date=NOW - age, text=text)
        for i, (text, age) in enumerate(texts)
    ]
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest(posts)


def check_html(text: str) -> str:
    """Parse with Telethon's own HTML parser; fail when the parse loses visible text (what unescaped
    user text does: `x<y more` becomes `x`). Returns the visible text."""
    visible, _entities = tl_html.parse(text)
    expected = html.unescape(re.sub(r"<[^>]+>", "", text))
    assert visible.strip() == expected.strip(), f"HTML damaged by the parser:\n{text!r}\n->\n{visible!r}"
    return visible


def visible(reply: Reply) -> str:
    return tl_html.parse(reply.text)[0]


def buttons(reply: Reply) -> dict[str, str]:
    """Button data by label."""
    return {b.text: b.data or b.url or "" for row in reply.buttons for b in row}


def button_data(reply: Reply) -> list[str]:
    return [b.data for row in reply.buttons for b in row if b.data]
