"""/export: the chat's rules and its matches of the last 30 days, as one CSV file."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bot.commands.context import CommandContext, Request
from bot.commands.store import rules_of
from bot.commands.types import Reply, ReplyFile
from bot.i18n import t
from bot.storage.repos import matches_between

EXPORT_DAYS = 30
COLUMNS = ("record", "rule_number", "rule", "created_or_posted_utc", "channel", "link", "text")


def _cell(value: object) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: quote such text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export(ctx: CommandContext, req: Request) -> Reply:
    if req.subscriber is None:
        return Reply(t(req.lang, "not_registered"))
    until = ctx.now()
    async with ctx.db.uow(read_only=True) as session:
        rules = await rules_of(session, req.subscriber.id)
        matches = await matches_between(
            session, req.subscriber.id, until - timedelta(days=EXPORT_DAYS), until
        )
    numbers = {rule.id: n for n, rule in enumerate(rules, 1)}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for rule in rules:
        writer.writerow(
            ["rule", numbers[rule.id], _cell(rule.source), rule.created_at.isoformat(), "", "", ""]
        )
    for _match, rule, post, channel in matches:
        writer.writerow(
            [
                "match",
                numbers.get(rule.id, ""),
                _cell(rule.source),
                post.date.isoformat(),
                _cell(channel.username or channel.title or channel.telegram_id),
                f"https://t.me/{channel.username}/{post.message_id}"
                if channel.username
                else f"https://t.me/c/{channel.telegram_id}/{post.message_id}",
                _cell(post.text),
            ]
        )
    data = out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 (Cyrillic) right
    name = f"tgmon-export-{until:%Y-%m-%d}.csv"
    caption = t(req.lang, "export_done", rules=len(rules), matches=len(matches), days=EXPORT_DAYS)
    return Reply(caption, file=ReplyFile(name, data))
