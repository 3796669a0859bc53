"""/start, /help, /lang and the tour's buttons."""

from __future__ import annotations

from dataclasses import replace

from bot.commands import channels, rules, settings_menu
from bot.commands.context import CommandContext, Request
from bot.commands.types import Button, Reply
from bot.i18n import LANGUAGES, N_, label, t
from bot.storage.rules import ensure_subscriber, get_subscriber


def _tour_buttons(lang: str) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(label(lang, "add_rule_btn"), "go:watch"), Button(label(lang, "channels_btn"), "go:channels")),
        (Button(label(lang, "settings_btn"), "go:settings"), Button(label(lang, "help_btn"), "go:help")),
    )


async def start(ctx: CommandContext, req: Request) -> Reply:
    async with ctx.db.uow() as session:
        existed = req.subscriber is not None and req.subscriber.active
        sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
        lang = sub.language
    key = N_("start_group") if req.caller.in_group else N_("start_again") if existed else N_("start")
    return Reply(t(lang, key), _tour_buttons(lang))


async def help_(ctx: CommandContext, req: Request) -> Reply:
    return Reply(t(req.lang, "help"))


async def lang(ctx: CommandContext, req: Request) -> Reply:
    choice = req.args.strip().lower()
    # a code (`uk`) or a language's own name as its button shows it (`українська`, `Русский`)
    named = {label(code, "language_name_btn").casefold(): code for code in LANGUAGES}
    code = choice if choice in LANGUAGES else named.get(choice.casefold())
    if code is not None:
        return await _set_language(ctx, req, code, button=False)
    buttons = (tuple(Button(label(code, "language_name_btn"), f"lang:{code}") for code in LANGUAGES),)
    prefix = t(req.lang, "lang_unknown", value=choice[:20]) + "\n" if choice else ""
    return Reply(prefix + t(req.lang, "lang_choose"), buttons)


async def on_lang_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    if len(parts) != 1 or parts[0] not in LANGUAGES:
        return Reply("", toast=t(req.lang, "button_stale"))
    return await _set_language(ctx, req, parts[0], button=True)


async def _set_language(ctx: CommandContext, req: Request, code: str, *, button: bool) -> Reply:
    async with ctx.db.uow() as session:
        sub = await get_subscriber(session, req.caller.chat_id)
        if sub is None:
            sub = await ensure_subscriber(session, req.caller, code, ctx.settings)
        sub.language = code
    return Reply(t(code, "lang_set"), toast=label(code, "language_name_btn") if button else None, menu=code)


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    """The tour's buttons: each sends its screen as a new message, so the tour stays."""
    target = parts[0] if parts else ""
    if target == "help":
        reply = await help_(ctx, req)
    elif target == "watch":
        ctx.pending.expect(req.caller, "watch")
        reply = Reply(t(req.lang, "watch_prompt"))
    elif target == "channels":
        reply = await channels.list_channels(ctx, req)
    elif target == "settings":
        reply = await settings_menu.settings(ctx, req)
    elif target == "rules":
        reply = await rules.list_rules(ctx, req)
    else:
        return Reply("", toast=t(req.lang, "button_stale"))
    return replace(reply, edit=False, toast=None, alert=False)
