"""The bot service: command handlers on a started bot client, until `stop` is set."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.commands import BotCommands, CommandContext
from bot.domain import ChannelSource
from bot.telegram.handlers import BotHandlers

log = logging.getLogger(__name__)


class BotService:
    """`source` (the user client's ChannelSource) lets /follow add a channel at once; without it new
    channels wait for an administrator's approval, as with settings.bot.approve_channels."""

    def __init__(self, app: Any, client: Any, *, source: ChannelSource | None = None) -> None:
        self.app = app
        self.client = client
        self.source = source
        self.handlers: BotHandlers | None = None

    def context(self, bot_username: str | None) -> CommandContext:
        clock = getattr(self.app, "clock", None)
        ctx = CommandContext(
            db=self.app.db,
            settings=self.app.settings,
            source=self.source,
            rules_changed=self.app.pipeline.reload_rules,
            bot_username=bot_username,
        )
        if clock is not None:
            ctx.now = clock.now
        return ctx

    async def run(self, stop: asyncio.Event) -> None:
        me = await self.client.get_me()
        username = getattr(me, "username", None)
        self.handlers = BotHandlers(BotCommands(self.context(username)), self.client)
        self.handlers.register()
        log.info("bot @%s is answering commands", username or "?")
        try:
            await stop.wait()
        finally:
            self.handlers.unregister()
