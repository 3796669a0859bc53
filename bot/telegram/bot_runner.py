"""The bot service: command handlers on a started bot client, until `stop` is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from telethon import errors, types

from bot import domain
from bot.commands import BotCommands, CommandContext
from bot.telegram.handlers import BotHandlers
from bot.telegram.menu import register_menu

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


class BotClientResolver:
    """Looks public channels up through the bot client, so `/follow` and an admin's approval can
    store a channel with its id at once; the ingest service then joins it and reads its history
    (resolving the name once more for its own account). Bots cannot read channel history or use
    invite links: those stay with `tgmon channels add` on the ingest host.

    A FloodWait is not waited out here (a user is waiting for the reply): it becomes the
    "flood_wait" ChannelError, "try again later"."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def resolve(self, link: str) -> domain.ChannelRef:
        from bot.ingest.channels import ChannelError, parse_channel_link
        from bot.telegram.source import channel_error, channel_ref

        parsed = parse_channel_link(link)
        shown = parsed.canonical
        if parsed.kind == "invite":
            raise ChannelError(
                "private",
                f"{shown} is an invite link; the bot cannot use those. Ask an administrator to run "
                f"`tgmon channels add {shown}`.",
                reason="invite_link",
            )
        target: Any = (
            parsed.username if parsed.kind == "username" else types.PeerChannel(parsed.channel_id or 0)
        )
        try:
            entity = await self.client.get_entity(target)
        except errors.RPCError as exc:
            mapped = channel_error(exc, shown)
            raise (mapped or ChannelError("not_found", f"Telegram refused to look up {shown}.")) from None
        except ValueError:
            raise ChannelError(
                "not_found", f"No channel {shown} exists on Telegram; check the spelling."
            ) from None
        return channel_ref(entity, shown)

    async def history(
        self, channel: domain.ChannelRef, *, min_id: int = 0, limit: int | None = None
    ) -> AsyncIterator[domain.Post]:
        from bot.ingest.channels import ChannelError

        raise ChannelError("invalid", "A bot cannot read channel history; the ingest service does.")
        yield  # an async generator, like every ChannelSource.history


class BotService:
    """`source` is the user client's ChannelSource when this process has one; otherwise channels
    are looked up through the bot client itself (`BotClientResolver`)."""

    def __init__(self, app: App, client: Any, *, source: domain.ChannelSource | None = None) -> None:
        self.app = app
        self.client = client
        self.source = source if source is not None else BotClientResolver(client)
        self.handlers: BotHandlers | None = None

    def context(self, bot_username: str | None) -> CommandContext:
        ctx = CommandContext(
            db=self.app.db,
            settings=self.app.settings,
            source=self.source,
            rules_changed=self.app.pipeline.rules_changed,
            bot_username=bot_username,
        )
        ctx.now = self.app.clock.now
        return ctx

    async def run(self, stop: asyncio.Event) -> None:
        me = await self.client.get_me()
        username = getattr(me, "username", None)
        self.handlers = BotHandlers(BotCommands(self.context(username)), self.client)
        self.handlers.register()
        await register_menu(self.client)
        log.info("bot @%s is answering commands", username or "?")
        try:
            await stop.wait()
        finally:
            self.handlers.unregister()
