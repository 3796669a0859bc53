"""Text or button data in, Reply out: rate limit, private mode, group admin checks, dispatch, and a
catch-all so that a user never sees a trace."""

from __future__ import annotations

import html
import logging
import re
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.commands import (
    admin,
    channels,
    digest,
    export,
    notify,
    rule_edit,
    rule_file,
    rules,
    search,
    settings_menu,
    start,
    stop,
    web,
)
from bot.commands.context import CommandContext, Request
from bot.commands.render import clip
from bot.commands.types import Caller, Reply
from bot.digest.render import LIMIT, utf16_len
from bot.i18n import language_for, t
from bot.storage.rules import get_subscriber

log = logging.getLogger(__name__)
_COMMAND = re.compile(r"\s*/(\S+)\s*(.*)", re.DOTALL)

Command = Callable[[CommandContext, Request], Awaitable[Reply]]
ButtonHandler = Callable[[CommandContext, Request, list[str]], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Spec:
    run: Command
    changes: bool  # in a group, only its admins may run it


COMMANDS: dict[str, Spec] = {
    "start": Spec(start.start, True),
    "help": Spec(start.help_, False),
    "lang": Spec(start.lang, True),
    "watch": Spec(rules.watch, True),
    "rules": Spec(rules.list_rules, False),
    "unwatch": Spec(rules.unwatch, True),
    "edit": Spec(rules.edit, True),
    "name": Spec(rule_edit.name, True),
    "delivery": Spec(rule_edit.delivery, True),
    "search": Spec(search.search, False),
    "channels": Spec(channels.list_channels, False),
    "follow": Spec(channels.follow, True),
    "settings": Spec(settings_menu.settings, True),
    "digest": Spec(digest.digest, True),
    "more": Spec(digest.more, True),
    "pause": Spec(digest.pause, True),
    "resume": Spec(digest.resume, True),
    "export": Spec(export.export, True),
    "import": Spec(rule_file.import_help, True),
    "stop": Spec(stop.stop, True),
    "admin": Spec(admin.admin, False),
    "web": Spec(web.web, False),
    "feed": Spec(web.feed, True),
    "notify": Spec(notify.notify, True),
}
BUTTONS: dict[str, ButtonHandler] = {
    "go": start.on_button,
    "lang": start.on_lang_button,
    "r": rules.on_button,
    "q": search.on_button,
    "c": channels.on_button,
    "s": settings_menu.on_button,
    "dg": digest.on_button,
    "stop": stop.on_button,
    "a": admin.on_button,
}
BUTTON_COST = 0.25  # a press of a menu button, in commands
PENDING: dict[str, Command] = {"tz": settings_menu.timezone_input, "watch": rules.watch,
                               "name": rule_edit.name_input}


class BotCommands:
    """The bot's behaviour, with no transport: the handlers feed it and send what it returns."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx

    async def handle_text(self, caller: Caller, text: str) -> Reply | None:
        """The reply to one message, or None when the bot should stay quiet."""
        text, caller = _valid(text), _clean_caller(caller)
        name, args, addressed = _split_command(text, self.ctx.bot_username)
        if name is None or not addressed:
            pending = self.ctx.pending.take(caller) if name is None else None
            if pending is None and caller.in_group:
                return None  # group chatter is not for us
            stopped, gate = self._gate(caller)
            if stopped:
                return gate
            req = await self._request(caller, text.strip())
            if pending is not None:
                kind, _, extra = pending.partition(":")  # "name:<rule id>": the kind and what it is for
                return await self._safely(PENDING[kind], replace(req, pending=extra))
            return Reply(t(req.lang, "plain_text_hint"))
        stopped, gate = self._gate(caller)
        if stopped:
            return gate
        req = await self._request(caller, args)
        spec = COMMANDS.get(name)
        if spec is None:
            return Reply(t(req.lang, "unknown_command", command="/" + clip(name, 40)))
        if spec.changes and caller.in_group and not caller.is_group_admin:
            return Reply(t(req.lang, "group_admin_only"))
        return await self._safely(spec.run, req)

    async def handle_document(
        self, caller: Caller, name: str, size: int, caption: str, download: Callable[[], Awaitable[bytes]]
    ) -> Reply | None:
        """A file sent to the bot: a rules file to import (`/export rules` makes one). In a private
        chat any document is taken as one; in a group only one captioned /import, from an admin.
        `download` fetches the bytes, called only once the file is wanted."""
        caller = _clean_caller(caller)
        name_, _, addressed = _split_command(_valid(caption), self.ctx.bot_username)
        if caller.in_group and (name_ != "import" or not addressed):
            return None  # a file shared in the group, not for us
        stopped, gate = self._gate(caller)
        if stopped:
            return gate
        req = await self._request(caller, "")
        if caller.in_group and not caller.is_group_admin:
            return Reply(t(req.lang, "group_admin_only"))
        refused = rule_file.document_refusal(req.lang, _valid(name), size)
        if refused is not None:
            return refused

        async def run(ctx: CommandContext, request: Request) -> Reply:
            return await rule_file.import_file(ctx, request, await download())

        return await self._safely(run, req)

    async def welcome(self, caller: Caller) -> Reply:
        """What the bot says when someone adds it to a group: what it does and how to start (it
        subscribes nobody: an admin does, with /start). In the language of whoever added it."""
        caller = _clean_caller(caller)
        req = await self._request(caller, "")
        return Reply(t(req.lang, "group_welcome"))

    async def handle_button(self, caller: Caller, data: str) -> Reply | None:
        stopped, gate = self._gate(caller, cost=BUTTON_COST)
        if stopped:
            return None if gate is None else Reply("", toast=_plain(gate.text), alert=True)
        data, caller = _valid(data), _clean_caller(caller)
        parts = data.split(":")
        req = await self._request(caller, "")  # a button carries its arguments in `parts`
        handler = BUTTONS.get(parts[0])
        if handler is None or len(data) > 64:
            return Reply("", toast=t(req.lang, "button_stale"))
        if caller.in_group and not caller.is_group_admin and data != "go:help":
            return Reply("", toast=t(req.lang, "group_admin_only"), alert=True)

        async def run(ctx: CommandContext, request: Request) -> Reply:
            return await handler(ctx, request, parts[1:])

        return await self._safely(run, req, button=True)

    def _gate(self, caller: Caller, cost: float = 1.0) -> tuple[bool, Reply | None]:
        """(False, None): go on. (True, reply): stop here with this reply (None: stay quiet),
        for a flooding or refused user."""
        verdict = self.ctx.limiter.check(caller.user_id, cost)
        lang = language_for(caller.language_code)
        if verdict == "drop":
            return True, None
        if verdict == "warn":
            seconds = max(1, round(self.ctx.limiter.retry_after(caller.user_id)))
            return True, Reply(t(lang, "slow_down", seconds=seconds))
        bot = self.ctx.settings.bot
        if bot.private_mode and caller.user_id not in bot.allowlist and caller.user_id not in bot.admins:
            return True, Reply(t(lang, "refused_private"))
        return False, None

    async def _request(self, caller: Caller, args: str) -> Request:
        async with self.ctx.db.uow(read_only=True) as session:
            sub = await get_subscriber(session, caller.chat_id)
        lang = sub.language if sub is not None else language_for(caller.language_code)
        return Request(caller=caller, args=args, lang=lang, subscriber=sub)

    async def _safely(self, run: Command, req: Request, *, button: bool = False) -> Reply:
        try:
            return fit(_printable(await run(self.ctx, req)))
        except Exception as exc:
            # the trace goes to the log, never to the user; and only the chat id of what the user
            # sent: not the exception's message (a database error quotes the rule or text it refused)
            log.error("command failed in chat %s: %s\n%s", req.caller.chat_id, exc.__class__.__name__,
                      "".join(traceback.format_tb(exc.__traceback__)).rstrip())
            text = t(req.lang, "internal_error")
            return Reply("", toast=_plain(text), alert=True) if button else Reply(text)


def _valid(text: str) -> str:
    """Text as Telegram can carry it back: a lone UTF-16 surrogate (not a character) becomes U+FFFD.
    Control characters stay, for the commands to refuse (a rule with one) with a clear reply."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _clean_caller(caller: Caller) -> Caller:
    """The caller with a chat title every database stores: no NUL, no lone surrogate."""
    title = _valid(caller.title).replace("\x00", "")
    return caller if title == caller.title else replace(caller, title=title)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(reply: Reply) -> Reply:
    """A reply without control characters (a value the user typed is echoed back in some)."""
    if _CONTROL.search(reply.text) is None:
        return reply
    return replace(reply, text=_CONTROL.sub("", reply.text))


def fit(reply: Reply, limit: int = LIMIT) -> Reply:
    """Keep a reply within Telegram's 4096 UTF-16 units: drop whole lines from the end (every line
    of ours closes its own tags), so the HTML stays well formed."""
    if utf16_len(reply.text) <= limit:
        return reply
    lines = reply.text.split("\n")
    while lines and utf16_len("\n".join(lines)) + 2 > limit:
        lines.pop()
    return replace(reply, text="\n".join(lines) + "\n…")


def _split_command(text: str, bot_username: str | None) -> tuple[str | None, str, bool]:
    """("watch", "батальон", addressed) for "/watch@bot батальон"; (None, "", True) for plain text."""
    found = _COMMAND.match(text)
    if found is None:
        return None, "", True
    name, _, target = found.group(1).partition("@")
    addressed = not target or bot_username is None or target.lower() == bot_username.lower()
    return name.lower(), found.group(2).strip(), addressed


def _plain(html_text: str) -> str:
    """A toast shows plain text: drop our own tags and entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))[:190]
