"""/digest [week|more], /more, /pause, /resume."""

from __future__ import annotations

from bot.commands.context import CommandContext, Request
from bot.commands.render import as_int
from bot.commands.types import Reply
from bot.i18n import N_, plural, t
from bot.storage.rules import ensure_subscriber

_PERIODS = {"": "since_last", "week": "week", "неделя": "week", "7": "week",
            "more": "more", "ещё": "more", "еще": "more"}


async def digest(ctx: CommandContext, req: Request) -> Reply:
    period = _PERIODS.get(req.args.strip().lower())
    if period is None:
        return Reply(t(req.lang, "digest_usage"))
    if period == "more":
        return await more(ctx, req)
    if req.subscriber is None:
        return Reply(t(req.lang, "not_registered"))
    try:
        from bot.digest.service import request_digest
    except ImportError:
        return Reply(t(req.lang, "digest_unavailable"))
    result = await request_digest(ctx.db, ctx.settings, req.caller.chat_id, now=ctx.now(), period=period)
    if result.items == 0:
        return Reply(t(req.lang, N_("digest_empty_week") if period == "week" else N_("digest_empty")))
    items = plural(req.lang, "digest_items_n", result.items)
    chunks = plural(req.lang, "digest_messages_n", result.chunks)
    if 0 < result.shown < result.items:  # the digest size left some out: say so, and how to see them
        return Reply(t(req.lang, "digest_queued_top", shown=result.shown, items=items, chunks=chunks))
    return Reply(t(req.lang, "digest_queued", items=items, chunks=chunks))


async def more(ctx: CommandContext, req: Request) -> Reply:
    """The next page of the last digest: the items its size setting left out."""
    if req.subscriber is None:
        return Reply(t(req.lang, "not_registered"))
    from bot.digest.service import request_more

    result = await request_more(ctx.db, ctx.settings, req.caller.chat_id, now=ctx.now())
    if result is None:
        return Reply(t(req.lang, "digest_more_busy"))
    if result.digest_id is None:
        return Reply(t(req.lang, "digest_no_more"))
    return Reply(t(req.lang, "digest_more_queued", items=plural(req.lang, "digest_items_n", result.shown)))


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    """The More button under a digest (`dg:more:<digest id>`): its next page, as `/more` sends it."""
    digest_id = as_int(parts[1]) if len(parts) == 2 and parts[0] == "more" else None
    if digest_id is None or req.subscriber is None:
        return Reply("", toast=t(req.lang, "button_stale"))
    from bot.digest.service import request_more

    result = await request_more(ctx.db, ctx.settings, req.caller.chat_id, now=ctx.now(), digest_id=digest_id)
    if result is None:
        return Reply("", toast=t(req.lang, "digest_more_busy"))
    if result.digest_id is None:
        return Reply("", toast=t(req.lang, "digest_no_more"))
    return Reply("", toast=t(req.lang, "digest_more_queued", items=plural(req.lang, "digest_items_n", result.shown)))


async def pause(ctx: CommandContext, req: Request) -> Reply:
    return await _set_paused(ctx, req, True)


async def resume(ctx: CommandContext, req: Request) -> Reply:
    return await _set_paused(ctx, req, False)


async def _set_paused(ctx: CommandContext, req: Request, paused: bool) -> Reply:
    async with ctx.db.uow() as session:
        sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
        already = sub.paused == paused
        sub.paused = paused
    if paused:
        return Reply(t(req.lang, N_("already_paused") if already else N_("paused")))
    return Reply(t(req.lang, N_("already_running") if already else N_("resumed")))
