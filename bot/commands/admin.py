"""/admin stats | users | channels [add LINK | remove NAME | approve NAME | reject NAME]: for settings.bot.admins."""

from __future__ import annotations

import html
import re

from bot.commands.channels import channel_name
from bot.commands.context import CommandContext, Request
from bot.commands.errors import channel_error_text
from bot.commands.render import as_int, clip, esc, page_of, pager
from bot.commands.types import Button, Reply
from bot.delivery.outbox import queue_notice
from bot.i18n import N_, label, t
from bot.storage import channels as stored_channels
from bot.storage import stats
from bot.storage.rules import subscribers_with_rule_counts


def _is_admin(ctx: CommandContext, req: Request) -> bool:
    return req.caller.user_id in ctx.settings.bot.admins


async def admin(ctx: CommandContext, req: Request) -> Reply:
    if not _is_admin(ctx, req):
        return Reply(t(req.lang, "admin_only"))
    if req.caller.in_group:
        return Reply(t(req.lang, "admin_private_only"))
    words = req.args.split()
    what = words[0].lower() if words else ""
    if what == "stats":
        return await _stats(ctx, req)
    if what == "users":
        return await _users(ctx, req, 0)
    if what == "channels":
        if len(words) == 1:
            return await _channels(ctx, req)
        if len(words) == 3:
            return await _channel_action(ctx, req, words[1].lower(), words[2])
    return Reply(t(req.lang, "admin_help"))


async def _stats(ctx: CommandContext, req: Request) -> Reply:
    async with ctx.db.uow(read_only=True) as session:
        values: dict[str, object] = dict(await stats.admin_counts(session))
        newest = await stats.newest_post_date(session)
    values["newest"] = newest.strftime("%Y-%m-%d %H:%M UTC") if newest else "—"
    return Reply(t(req.lang, "admin_stats", **values))


async def _users(ctx: CommandContext, req: Request, page: int) -> Reply:
    async with ctx.db.uow(read_only=True) as session:
        rows = await subscribers_with_rule_counts(session)
    if not rows:
        return Reply(t(req.lang, "admin_no_users"))
    shown, page, pages = page_of(rows, page, 20)
    lines = [t(req.lang, "admin_users_header", count=len(rows))]
    for sub, rules in shown:
        flags = "".join(
            [
                " ⏸" if sub.paused else "",
                " ⛔" if not sub.active else "",
                " 👥" if sub.kind == "group" else "",
            ]
        )
        title = f" {esc(clip(sub.title, 30))}" if sub.title else ""
        lines.append(f"<code>{sub.chat_id}</code>{title} · {sub.language} · {sub.frequency} · {rules}{flags}")
    nav = pager("a:u", page, pages)
    return Reply("\n".join(lines), (nav,) if nav else ())


async def _channels(ctx: CommandContext, req: Request) -> Reply:
    async with ctx.db.uow(read_only=True) as session:
        rows = await stored_channels.active_and_pending(session)
    pending = [c for c in rows if c.status == "pending"]
    active = [c for c in rows if c.status == "active"]
    lines = [t(req.lang, "admin_channels_header", active=len(active), pending=len(pending))]
    buttons: list[tuple[Button, ...]] = []
    for channel in pending[:15]:
        who = f" ← <code>{channel.added_by}</code>" if channel.added_by else ""
        lines.append(f"⏳ {esc(clip(channel_name(channel), 60))}{who}")
        name = clip(channel_name(channel), 30)
        buttons.append(
            (
                Button(label(req.lang, "approve_btn", name=name), f"a:ok:{channel.id}"),
                Button(label(req.lang, "reject_btn"), f"a:no:{channel.id}"),
            )
        )
    for channel in active[:15]:
        handle = f" @{esc(channel.username)}" if channel.username else ""
        lines.append(f"✅ {esc(clip(channel_name(channel), 60))}{handle}")
        buttons.append(
            (
                Button(
                    label(req.lang, "remove_btn", name=clip(channel_name(channel), 30)), f"a:rm:{channel.id}"
                ),
            )
        )
    if len(pending) > 15 or len(active) > 15:
        lines.append(t(req.lang, "admin_more"))
    lines.append(t(req.lang, "admin_channels_footer"))
    return Reply("\n".join(lines), tuple(buttons))


async def _channel_action(ctx: CommandContext, req: Request, action: str, name: str) -> Reply:
    if action == "add":
        return await _add(ctx, req, name)
    username = name.strip().lstrip("@").removeprefix("https://").removeprefix("t.me/").strip("/").lower()
    async with ctx.db.uow(read_only=True) as session:
        channel = await stored_channels.by_username(session, username)
    if channel is None:
        return Reply(t(req.lang, "admin_no_channel", name=name[:60]))
    verb = {"approve": "ok", "reject": "no", "remove": "rm"}.get(action)
    if verb is None:
        return Reply(t(req.lang, "admin_help"))
    reply = await _apply(ctx, req, verb, channel.id)
    return Reply(reply.toast or reply.text)


async def _add(ctx: CommandContext, req: Request, link: str) -> Reply:
    try:
        from bot.ingest.channels import ChannelError, add_channel, parse_channel_link
    except ImportError:
        return Reply(t(req.lang, "follow_unavailable"))
    try:
        parse_channel_link(link)
    except ChannelError as err:
        return Reply(channel_error_text(req.lang, err, link))
    if ctx.source is None:
        return Reply(t(req.lang, "admin_no_resolver", name=clip(link, 80)))
    try:
        ref = await add_channel(ctx.db, ctx.source, link, added_by=req.caller.chat_id)
    except ChannelError as err:
        return Reply(channel_error_text(req.lang, err, link))
    return Reply(t(req.lang, "follow_added", name=ref.title or f"@{ref.username}"))


async def _apply(ctx: CommandContext, req: Request, verb: str, channel_id: int) -> Reply:
    """Approve ("ok"), reject ("no") or remove ("rm") one channel; returns the refreshed admin screen."""
    async with ctx.db.uow() as session:
        channel = await stored_channels.by_id(session, channel_id)
        if channel is None or channel.status == "removed":
            return Reply("", toast=t(req.lang, "channel_gone"), alert=True)
        name = clip(channel_name(channel), 60)
        username, requester = channel.username, channel.added_by
        was_requested = channel.status == "pending" and requester is not None and requester != req.caller.chat_id
        if verb in ("no", "rm"):
            channel.status = "removed"
        if verb == "no" and was_requested and requester is not None:  # the one who asked hears the answer
            await queue_notice(session, [requester], lambda lang: t(lang, "follow_rejected", name=name), ctx.now())
    if verb == "ok":
        if ctx.source is None or not username:
            return Reply(
                "",
                toast=_plain(t(req.lang, "admin_no_resolver", name=f"@{username or channel_id}")),
                alert=True,
            )
        from bot.ingest.channels import ChannelError, add_channel

        try:
            # resolves the name once and makes the row active with its id: the ingest service
            # then joins it and reads its recent history
            ref = await add_channel(ctx.db, ctx.source, f"@{username}", added_by=requester)
            name = clip(ref.title or name, 60)
            if was_requested and requester is not None:
                async with ctx.db.uow() as session:
                    await queue_notice(session, [requester], lambda lang: t(lang, "follow_approved", name=name),
                                       ctx.now())
        except ChannelError as err:
            if getattr(err, "code", "") != "exists":
                return Reply("", toast=_plain(channel_error_text(req.lang, err, f"@{username}")), alert=True)
            async with ctx.db.uow() as session:  # already watched under its id: the request is moot
                row = await stored_channels.by_id(session, channel_id)
                if row is not None and row.status == "pending":
                    row.status = "removed"
    screen = await _channels(ctx, req)
    toast_key = {"ok": N_("approved_toast"), "no": N_("rejected_toast"), "rm": N_("removed_toast")}[verb]
    return Reply(screen.text, screen.buttons, toast=label(req.lang, toast_key, name=name))


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))[:190]


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    if not _is_admin(ctx, req):
        return Reply("", toast=t(req.lang, "admin_only"), alert=True)
    action = parts[0] if parts else ""
    arg = as_int(parts[1]) if len(parts) == 2 else None
    if arg is None:
        return Reply("", toast=t(req.lang, "button_stale"))
    if action == "u":
        return await _users(ctx, req, arg)
    if action in ("ok", "no", "rm"):
        return await _apply(ctx, req, action, arg)
    return Reply("", toast=t(req.lang, "button_stale"))
