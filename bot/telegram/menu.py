"""Registers the bot's command menu with Telegram (`bots.setBotCommands`): the default scope in
English, and one menu per language code, so each user sees the commands in their own language."""

from __future__ import annotations

import logging
from typing import Any

from telethon import errors, functions, types

from bot.commands.menu import command_menu, menu_languages

log = logging.getLogger(__name__)


def _commands(lang: str) -> list[types.BotCommand]:
    return [types.BotCommand(command=name, description=text) for name, text in command_menu(lang)]


def menu_requests() -> list[functions.bots.SetBotCommandsRequest]:
    return [
        functions.bots.SetBotCommandsRequest(scope=types.BotCommandScopeDefault(), lang_code=code, commands=_commands(lang))
        for code, lang in menu_languages()
    ]


async def register_chat_menu(client: Any, chat_id: int, lang: str) -> bool:
    """One chat's menu in the language it chose with /lang (Telegram prefers a chat's own scope to
    the language-code menus). False when Telegram refused; the chat keeps the menu of its client."""
    try:
        peer = await client.get_input_entity(chat_id)
        await client(functions.bots.SetBotCommandsRequest(
            scope=types.BotCommandScopePeer(peer=peer), lang_code="", commands=_commands(lang)))
        return True
    except (errors.RPCError, ValueError, ConnectionError) as exc:
        log.warning("could not set the command menu of chat %s: %s", chat_id, exc.__class__.__name__)
        return False


async def register_menu(client: Any) -> int:
    """Send every menu; the number Telegram accepted. A failure is logged, never fatal: the bot
    answers commands whether or not the menu shows them."""
    done = 0
    for request in menu_requests():
        try:
            await client(request)
            done += 1
        except (errors.RPCError, ConnectionError) as exc:
            log.warning("could not register the %r command menu: %s", request.lang_code or "default",
                        exc.__class__.__name__)
    return done
