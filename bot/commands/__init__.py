"""The subscriber bot's commands, free of Telethon: a `Caller` and text (or button data) in, a `Reply` out.

`bot/telegram/handlers.py` turns Telethon events into `BotCommands.handle_text` / `handle_button`
calls and sends what they return.
"""

from bot.commands.context import CommandContext, PendingInputs, Request
from bot.commands.ratelimit import RateLimiter
from bot.commands.router import COMMANDS, BotCommands
from bot.commands.types import Button, Caller, ChatKind, Reply, ReplyFile

__all__ = [
    "COMMANDS",
    "BotCommands",
    "Button",
    "Caller",
    "ChatKind",
    "CommandContext",
    "PendingInputs",
    "RateLimiter",
    "Reply",
    "ReplyFile",
    "Request",
]
