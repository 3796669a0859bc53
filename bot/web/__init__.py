"""The web view and the Atom feeds (`tgmon run --role web`): Starlette, Jinja2 templates, uvicorn.

Server-rendered pages that work without JavaScript. No Telethon here: rule and settings changes go
through the bot's own commands (bot/commands), reads through the repositories of bot/storage and the
archive search (bot/search); no SQL of its own.
"""

from bot.web.app import create_web_app

__all__ = ["create_web_app"]
