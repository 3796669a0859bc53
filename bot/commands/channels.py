"""/channels (follow or unfollow each watched channel) and /follow LINK (ask for a new one)."""

from __future__ import annotations

from typing import Any

from bot.commands.context import CommandContext, Request
from bot.commands.errors import channel_error_text
from bot.commands.render import as_int, clip, esc, page_of, pager
from bot.commands.types import Button, Reply
from bot.i18n import N_, label, t
from bot.storage import channels as stored_channels
from bot.storage import models as m
from bot.storage.rules import ensure_subscriber, set_following, unfollowed_ids

PAGE = 8


def channel_name(channel: m.Channel) -> str:
    return channel.title or (f"@{channel.username}" if channel.username else str(channel.telegram_id))


async def list_channels(ctx: CommandContext, req: Request, page: int = 0) -> Reply:
    async with ctx.db.uow(read_only=True) as session:
        items = await stored_channels.listed_active(session)
        dropped = await unfollowed_ids(session, req.subscriber.id) if req.subscriber is not None else set()
    if not items:
        return Reply(t(req.lang, "channels_empty"))
    shown, page, pages = page_of(items, page, PAGE)
    following = sum(1 for c in items if c.id not in dropped)
    lines = [t(req.lang, "channels_header", count=len(items), following=following)]
    rows: list[tuple[Button, ...]] = []
    for channel in shown:
        on = channel.id not in dropped
        handle = f" @{esc(channel.username)}" if channel.username else ""
        lines.append(f"{'✅' if on else '▫️'} {esc(clip(channel_name(channel), 60))}{handle}")
        key = N_("unfollow_btn") if on else N_("follow_btn")
        rows.append(
            (
                Button(
                    label(req.lang, key, name=clip(channel_name(channel), 40)),
                    f"c:{'off' if on else 'on'}:{channel.id}:{page}",
                ),
            )
        )
    lines.append(t(req.lang, "channels_footer"))
    nav = pager("c:page", page, pages)
    if nav:
        rows.append(nav)
    return Reply("\n".join(lines), tuple(rows))


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    action = parts[0] if parts else ""
    if action == "page" and len(parts) == 2 and (page := as_int(parts[1])) is not None:
        return await list_channels(ctx, req, page)
    if action in ("on", "off") and len(parts) == 3 and (channel_id := as_int(parts[1])) is not None:
        page = as_int(parts[2]) or 0
        async with ctx.db.uow() as session:
            channel = await stored_channels.active_by_id(session, channel_id)
            if channel is None:
                return Reply("", toast=t(req.lang, "channel_gone"), alert=True)
            sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
            await set_following(session, sub.id, channel.id, action == "on")
            name = clip(channel_name(channel), 60)
        fresh = Request(req.caller, req.args, req.lang, sub)
        screen = await list_channels(ctx, fresh, page)
        toast = label(req.lang, N_("followed_toast") if action == "on" else N_("unfollowed_toast"), name=name)
        return Reply(screen.text, screen.buttons, toast=toast)
    return Reply("", toast=t(req.lang, "button_stale"))


async def follow(ctx: CommandContext, req: Request) -> Reply:
    link = req.args.strip()
    if not link or " " in link:
        return Reply(t(req.lang, "follow_usage"))
    try:
        from bot.ingest.channels import ChannelError, add_channel, parse_channel_link
    except ImportError:
        return Reply(t(req.lang, "follow_unavailable"))
    try:
        parsed: Any = parse_channel_link(link)
    except ChannelError as err:
        return Reply(channel_error_text(req.lang, err, link))
    if getattr(parsed, "kind", "") == "invite":
        # the bot follows public channels only: joining by invite is the monitoring account's, on the
        # server (`tgmon channels add t.me/+...`), so the bot's texts never offer an invite form
        return Reply(channel_error_text(req.lang, ChannelError("private", "invite link", reason="invite_link"), link))
    username = getattr(parsed, "username", None)
    async with ctx.db.uow() as session:
        sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
        known = await stored_channels.by_username(session, username) if username else None
        if known is not None and known.status == "active":
            await set_following(session, sub.id, known.id, True)
            return Reply(t(req.lang, "follow_exists", name=channel_name(known)))
        if known is not None and known.status == "pending":
            return Reply(t(req.lang, "follow_pending_already", name=f"@{username}"))
        if await stored_channels.requested_by(session, req.caller.chat_id) >= ctx.settings.bot.max_channels:
            return Reply(t(req.lang, "follow_quota", limit=ctx.settings.bot.max_channels))
        queue = ctx.settings.bot.approve_channels or ctx.source is None or not username
        if queue and not username:
            return Reply(t(req.lang, "follow_needs_username"))
    if queue:
        title = ""
        if ctx.source is not None and (known is None or known.telegram_id is None):
            try:  # an admin is asked only about a channel that exists
                title = (await ctx.source.resolve(f"@{username}")).title
            except ChannelError as err:
                if getattr(err, "code", "") != "flood_wait":  # Telegram busy: the admin checks it
                    return Reply(channel_error_text(req.lang, err, link))
        async with ctx.db.uow() as session:
            await stored_channels.request(session, str(username), title, req.caller.chat_id)
        return Reply(t(req.lang, "follow_queued", name=f"@{username}"))
    assert ctx.source is not None  # `queue` above otherwise
    try:
        ref = await add_channel(ctx.db, ctx.source, link, added_by=req.caller.chat_id)
    except ChannelError as err:
        if getattr(err, "code", "") == "exists":
            return Reply(t(req.lang, "follow_exists", name=f"@{username}"))
        return Reply(channel_error_text(req.lang, err, link))
    return Reply(t(req.lang, "follow_added", name=ref.title or f"@{ref.username or username}"))
