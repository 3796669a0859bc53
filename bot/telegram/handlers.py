"""Thin Telethon handlers: an event becomes a `Caller` and a `BotCommands` call; the `Reply` is sent.

No behaviour lives here beyond the transport: who is asking (chat, user, chat kind, group admin,
language), and how a reply travels (a new message, an edited message, a callback answer, a file).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import Any

from telethon import Button as TgButton
from telethon import errors, events

from bot.commands import BotCommands, Button, Caller, ChatKind, Reply
from bot.telegram.menu import register_chat_menu

log = logging.getLogger(__name__)


def telethon_buttons(rows: tuple[tuple[Button, ...], ...]) -> list[list[Any]] | None:
    if not rows:
        return None
    return [
        [
            TgButton.url(b.text, b.url)
            if b.url is not None
            else TgButton.inline(b.text, (b.data or "").encode())
            for b in row
        ]
        for row in rows
    ]


class BotHandlers:
    """Registers on a bot client; every event is answered from `commands`."""

    def __init__(
        self,
        commands: BotCommands,
        client: Any,
        *,
        admin_cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.commands = commands
        self.client = client
        self._admin_cache: dict[tuple[int, int], tuple[bool, float]] = {}
        self._admin_ttl = admin_cache_seconds
        self._monotonic = monotonic
        self._registered: list[tuple[Callable[..., Any], Any]] = []
        self._me_id: int | None = None
        # (chat, screen name) -> the message showing that screen last (Reply.screen)
        self._screens: dict[tuple[int, str], int] = {}

    def register(self) -> None:
        for callback, builder in (
            (self.on_message, events.NewMessage(incoming=True)),
            (self.on_button, events.CallbackQuery()),
            (self.on_chat_action, events.ChatAction()),
        ):
            self.client.add_event_handler(callback, builder)
            self._registered.append((callback, builder))

    def unregister(self) -> None:
        for callback, builder in self._registered:
            self.client.remove_event_handler(callback, builder)
        self._registered.clear()

    async def on_message(self, event: Any) -> None:
        text = event.message.message or ""
        if event.is_channel and not event.is_group:
            return  # posts of a channel the bot is in
        if event.message.document is not None:
            await self._on_document(event, text)
            return
        if not text:
            return  # media without a caption
        try:
            caller = await self._caller(event, asks=text.lstrip().startswith("/"))
            reply = await self.commands.handle_text(caller, text)
            if reply is not None:
                await self._send(event.chat_id, reply)
                if reply.menu is not None:
                    await register_chat_menu(self.client, int(event.chat_id), reply.menu)
        except Exception:
            log.exception("could not answer a message in chat %s", event.chat_id)

    async def _on_document(self, event: Any, caption: str) -> None:
        """A file: its name and size go to the commands, which download it (through Telethon, here)
        only if they want it (a rules file to import)."""
        file = event.message.file
        message = event.message

        async def download() -> bytes:
            return bytes(await message.download_media(file=bytes))

        try:
            caller = await self._caller(event, asks=caption.lstrip().startswith("/"))
            reply = await self.commands.handle_document(
                caller, str(file.name or ""), int(file.size or 0), caption, download
            )
            if reply is not None:
                await self._send(event.chat_id, reply)
        except Exception:
            log.exception("could not answer a file in chat %s", event.chat_id)

    async def on_button(self, event: Any) -> None:
        try:
            data = bytes(event.data or b"").decode("utf-8", "replace")
            caller = await self._caller(event, asks=True)
            reply = await self.commands.handle_button(caller, data)
            if reply is None:
                await event.answer()
                return
            if reply.text and reply.edit:
                await self._edit(event.chat_id, event.message_id, reply)
                if reply.screen is not None:
                    self._remember(int(event.chat_id), reply.screen, int(event.message_id))
            elif reply.text or reply.file:
                await self._send(event.chat_id, reply)
            await event.answer(reply.toast, alert=reply.alert)
            if reply.menu is not None:
                await register_chat_menu(self.client, int(event.chat_id), reply.menu)
        except Exception:
            log.exception("could not answer a button in chat %s", event.chat_id)
            try:
                await event.answer()  # stop the button's spinner in any case
            except Exception:
                log.debug("callback answer failed", exc_info=True)

    async def on_chat_action(self, event: Any) -> None:
        """The bot added to a group: a welcome that says what it does and how to start."""
        if not event.user_added:
            return
        try:
            if self._me_id is None:
                self._me_id = int((await self.client.get_me()).id)
            if self._me_id not in (event.user_ids or ()):
                return  # someone else joined
            adder = event.added_by  # from the update's own entities: no request to Telegram
            caller = Caller(
                int(event.chat_id),
                int(getattr(adder, "id", None) or event.chat_id),
                ChatKind.GROUP,
                False,
                getattr(adder, "lang_code", None),
                getattr(event.chat, "title", "") or "",
            )
            await self._send(event.chat_id, await self.commands.welcome(caller))
        except Exception:
            log.exception("could not greet chat %s", event.chat_id)

    async def _caller(self, event: Any, *, asks: bool) -> Caller:
        chat_id, user_id = int(event.chat_id), int(event.sender_id or event.chat_id)
        sender = event.sender  # from the update's own entities: no request to Telegram
        language = getattr(sender, "lang_code", None)
        if event.is_private:
            return Caller(chat_id, user_id, ChatKind.PRIVATE, False, language)
        chat = event.chat
        title = getattr(chat, "title", "") or ""
        admin = await self._is_admin(chat_id, user_id) if asks else False
        return Caller(chat_id, user_id, ChatKind.GROUP, admin, language, title)

    async def _is_admin(self, chat_id: int, user_id: int) -> bool:
        if user_id == chat_id:
            return True  # an anonymous admin posts as the group itself
        now = self._monotonic()
        cached = self._admin_cache.get((chat_id, user_id))
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            perms = await self.client.get_permissions(chat_id, user_id)
            admin = bool(perms.is_admin or perms.is_creator)
        except (errors.RPCError, ValueError):
            log.warning("could not read admin rights in chat %s", chat_id)
            admin = False
        if len(self._admin_cache) > 10_000:
            self._admin_cache.clear()
        self._admin_cache[(chat_id, user_id)] = (admin, now + self._admin_ttl)
        return admin

    async def _send(self, chat_id: int, reply: Reply) -> None:
        buttons = telethon_buttons(reply.buttons)
        try:
            if reply.file is not None:
                data = io.BytesIO(reply.file.data)
                data.name = reply.file.name
                await self.client.send_file(
                    chat_id, data, caption=reply.text, parse_mode="html", force_document=True, buttons=buttons
                )
            else:
                sent = await self.client.send_message(
                    chat_id, reply.text, parse_mode="html", buttons=buttons, link_preview=False
                )
                if reply.screen is not None and sent is not None:
                    await self._refresh(int(chat_id), reply, int(sent.id))
        except (errors.UserIsBlockedError, errors.ChatWriteForbiddenError, errors.InputUserDeactivatedError):
            log.info("chat %s does not accept messages from the bot", chat_id)

    def _remember(self, chat_id: int, screen: str, message_id: int) -> int | None:
        """Note the message now showing `screen` in the chat; the one that showed it before, if any."""
        if len(self._screens) > 10_000:
            self._screens.clear()
        before = self._screens.get((chat_id, screen))
        self._screens[(chat_id, screen)] = message_id
        return before if before != message_id else None

    async def _refresh(self, chat_id: int, reply: Reply, message_id: int) -> None:
        """A screen sent anew (a typed /settings change): the chat's earlier message of the same
        screen shows the same state, so none of its buttons speaks of old values."""
        assert reply.screen is not None
        before = self._remember(chat_id, reply.screen, message_id)
        if before is None:
            return
        try:
            await self.client.edit_message(
                chat_id, before, reply.text, parse_mode="html", buttons=telethon_buttons(reply.buttons),
                link_preview=False,
            )
        except errors.RPCError:  # deleted, too old to edit, unchanged: nothing to bring up to date
            log.debug("could not refresh an earlier %s screen in chat %s", reply.screen, chat_id)

    async def _edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        try:
            await self.client.edit_message(
                chat_id,
                message_id,
                reply.text,
                parse_mode="html",
                buttons=telethon_buttons(reply.buttons),
                link_preview=False,
            )
        except errors.MessageNotModifiedError:
            pass  # the same button pressed twice
        except errors.MessageIdInvalidError:
            await self._send(chat_id, reply)  # the message is gone: send the screen anew
