"""/stop: forget the chat (every rule, match, setting and queued message), after a confirm button."""

from __future__ import annotations

from bot.commands.context import CommandContext, Request
from bot.commands.types import Button, Reply
from bot.i18n import label, t
from bot.storage.rules import forget_subscriber, get_subscriber


async def stop(ctx: CommandContext, req: Request) -> Reply:
    if req.subscriber is None:
        return Reply(t(req.lang, "stop_nothing"))
    buttons = (
        (
            Button(label(req.lang, "stop_yes_btn"), "stop:yes"),
            Button(label(req.lang, "stop_no_btn"), "stop:no"),
        ),
    )
    return Reply(t(req.lang, "stop_confirm"), buttons)


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    answer = parts[0] if parts else ""
    if answer == "no":
        return Reply(t(req.lang, "stop_cancelled"))
    if answer != "yes":
        return Reply("", toast=t(req.lang, "button_stale"))
    async with ctx.db.uow() as session:
        sub = await get_subscriber(session, req.caller.chat_id)  # the pressing chat's own data only
        if sub is None:
            return Reply(t(req.lang, "stop_nothing"))
        await forget_subscriber(session, sub)
    ctx.pending.forget_chat(req.caller.chat_id)
    await ctx.notify_rules_changed()
    return Reply(t(req.lang, "stop_done"))
