"""/web (a sign-in link to the web view; `sessions`, `revoke N|all`) and /feed (Atom feed URLs)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.commands import access
from bot.commands.context import CommandContext, Request
from bot.commands.render import as_int, clip
from bot.commands.types import Reply
from bot.i18n import t
from bot.storage.rules import rules_of


def _base_url(ctx: CommandContext) -> str | None:
    return ctx.settings.web.base_url


async def web(ctx: CommandContext, req: Request) -> Reply:
    if req.caller.in_group:
        return Reply(t(req.lang, "web_private_only"))
    base = _base_url(ctx)
    if base is None:
        return Reply(t(req.lang, "web_not_configured"))
    action, _, rest = req.args.strip().partition(" ")
    action = action.lower()
    if action in ("sessions", "сессии"):
        return await _sessions(ctx, req)
    if action in ("revoke", "выйти"):
        return await _revoke(ctx, req, rest.strip().lower())
    if action:
        return Reply(t(req.lang, "web_usage"))
    key = await access.signing_key(ctx.db, ctx.settings)
    minutes = ctx.settings.web.login_minutes
    async with ctx.db.uow() as session:
        token = await access.issue_login(session, key, req.caller.user_id, ctx.now(), minutes)
    return Reply(t(req.lang, "web_link", url=access.login_url(base, token), minutes=round(minutes)))


async def _sessions(ctx: CommandContext, req: Request) -> Reply:
    async with ctx.db.uow(read_only=True) as session:
        rows = await access.sessions_of(session, req.caller.user_id, ctx.now())
    if not rows:
        return Reply(t(req.lang, "web_no_sessions"))
    tz = ZoneInfo(req.subscriber.timezone if req.subscriber else ctx.settings.digest.default_timezone)
    lines = [t(req.lang, "web_sessions_header", count=len(rows))]
    for n, row in enumerate(rows, 1):
        lines.append(t(req.lang, "web_session_line", number=n, agent=clip(row.user_agent or "?", 60),
                       seen=row.last_seen_at.astimezone(tz).strftime("%d.%m %H:%M")))
    lines.append(t(req.lang, "web_sessions_footer"))
    return Reply("\n".join(lines))


async def _revoke(ctx: CommandContext, req: Request, which: str) -> Reply:
    now = ctx.now()
    async with ctx.db.uow() as session:
        if which in ("all", "все"):
            count = await access.revoke_sessions(session, req.caller.user_id, now)
            return Reply(t(req.lang, "web_revoked_all", count=count))
        number = as_int(which)
        rows = await access.sessions_of(session, req.caller.user_id, now)
        if number is None or not 1 <= number <= len(rows):
            return Reply(t(req.lang, "web_revoke_usage", count=len(rows)))
        await access.revoke_sessions(session, req.caller.user_id, now, rows[number - 1].id)
    return Reply(t(req.lang, "web_revoked", number=number))


async def feed(ctx: CommandContext, req: Request) -> Reply:
    base = _base_url(ctx)
    if base is None:
        return Reply(t(req.lang, "web_not_configured"))
    if req.subscriber is None:
        return Reply(t(req.lang, "not_registered"))
    arg = req.args.strip().lower()
    now = ctx.now()
    async with ctx.db.uow() as session:
        if arg in ("revoke", "off", "стоп"):
            count = await access.revoke_feeds(session, req.subscriber.id, now)
            return Reply(t(req.lang, "feed_revoked", count=count))
        if not arg:
            token = await access.issue_feed(session, req.subscriber.id, None, now)
            return Reply(t(req.lang, "feed_all", url=access.feed_url(base, token)))
        rules = await rules_of(session, req.subscriber.id)
        number = as_int(arg)
        if number is None or not 1 <= number <= len(rules):
            return Reply(t(req.lang, "feed_usage", count=len(rules)))
        rule = rules[number - 1]
        token = await access.issue_feed(session, req.subscriber.id, rule.id, now)
    return Reply(t(req.lang, "feed_rule", url=access.feed_url(base, token), rule=clip(rule.source, 100)))
