"""/export: the chat's rules and matches as CSV (the last 30 days, or any period with
`/export matches 2026-11-01 2026-11-30`, `/export matches 7d`), and `/export rules`: the rules and
settings as a file the bot takes back (bot/commands/rule_file.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.commands import rule_file
from bot.commands.context import CommandContext, Request
from bot.commands.render import clip
from bot.commands.types import Reply, ReplyFile
from bot.i18n import plural, t
from bot.storage import models as m
from bot.storage.matches import between as matches_between
from bot.storage.rules import rules_of

EXPORT_DAYS = 30
MAX_ROWS = 100_000  # matches in one file (a Telegram bot sends files up to 50 MB)
COLUMNS = ("record", "rule_number", "rule", "created_or_posted_utc", "channel", "link", "text", "rule_name",
           "delivery")
_DAYS = re.compile(r"(\d{1,4})\s*(?:d|д|дн|днів|дней|days?)$")
_TINY = timedelta(microseconds=1)


def _cell(value: object) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: quote such text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(rules: Sequence[m.Rule], matches: Sequence[tuple[m.Match, m.Rule, m.Post, m.Channel]]) -> bytes:
    numbers = {rule.id: n for n, rule in enumerate(rules, 1)}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for rule in rules:
        writer.writerow(["rule", numbers[rule.id], _cell(rule.source), rule.created_at.isoformat(), "", "", "",
                         _cell(rule.name), rule.delivery or "default"])
    for _match, rule, post, channel in matches:
        link = (f"https://t.me/{channel.username}/{post.message_id}" if channel.username
                else f"https://t.me/c/{channel.telegram_id}/{post.message_id}")
        writer.writerow(["match", numbers.get(rule.id, ""), _cell(rule.source), post.date.isoformat(),
                         _cell(channel.username or channel.title or channel.telegram_id), link, _cell(post.text),
                         _cell(rule.name), rule.delivery or "default"])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 (Cyrillic) right


def period(args: str, now: datetime, tz: str) -> tuple[datetime, datetime] | None:
    """[since, until) for `7d`, `30d`, one date or two (local days of `tz`, both included)."""
    words = args.split()
    if len(words) == 1 and (days := _DAYS.match(words[0].lower())) is not None:
        count = int(days.group(1))
        return (now - timedelta(days=count), now) if 1 <= count <= 3660 else None
    try:
        days_asked = [date.fromisoformat(w) for w in words]
    except ValueError:
        return None
    if len(days_asked) not in (1, 2) or days_asked[0] > days_asked[-1]:
        return None
    zone = ZoneInfo(tz)
    start = datetime.combine(days_asked[0], time(), tzinfo=zone)
    end = datetime.combine(days_asked[-1] + timedelta(days=1), time(), tzinfo=zone)
    return start, end


async def export(ctx: CommandContext, req: Request) -> Reply:
    if req.subscriber is None:
        return Reply(t(req.lang, "not_registered"))
    what, _, rest = req.args.strip().partition(" ")
    what = what.lower()
    if what in ("rules", "правила"):
        async with ctx.db.uow(read_only=True) as session:
            rules = await rules_of(session, req.subscriber.id)
        now = ctx.now()
        data = rule_file.build(req.subscriber, rules, now)
        return Reply(t(req.lang, "export_rules_done", rules=plural(req.lang, "rules_n", len(rules))),
                     file=ReplyFile(f"tgmon-rules-{now:%Y-%m-%d}.json", data, "application/json"))
    if what in ("matches", "совпадения", "збіги"):
        window = period(rest, ctx.now(), req.subscriber.timezone)
        if window is None:
            return Reply(t(req.lang, "export_period_bad", value=clip(rest, 40) or "—"))
        since, until = window
        return await _matches(ctx, req, since, until, days=None)
    if what:
        return Reply(t(req.lang, "export_usage"))
    until = ctx.now()
    return await _matches(ctx, req, until - timedelta(days=EXPORT_DAYS), until, days=EXPORT_DAYS)


async def _matches(ctx: CommandContext, req: Request, since: datetime, until: datetime, days: int | None) -> Reply:
    assert req.subscriber is not None
    async with ctx.db.uow(read_only=True) as session:
        rules = await rules_of(session, req.subscriber.id)
        matches = await matches_between(session, req.subscriber.id, since - _TINY, until - _TINY)
    cut = len(matches) > MAX_ROWS
    matches = matches[:MAX_ROWS]  # newest first: the cut drops the oldest
    data = _csv(rules, matches)
    if days is not None:
        name = f"tgmon-export-{until:%Y-%m-%d}.csv"
        caption = t(req.lang, "export_done", rules=plural(req.lang, "rules_n", len(rules)),
                    matches=plural(req.lang, "matches_n", len(matches)), days=days)
    else:
        zone = ZoneInfo(req.subscriber.timezone)
        first, last = since.astimezone(zone), (until - _TINY).astimezone(zone)
        name = f"tgmon-matches-{first:%Y-%m-%d}-{last:%Y-%m-%d}.csv"
        caption = t(req.lang, "export_matches_done", matches=plural(req.lang, "matches_n", len(matches)),
                    since=f"{first:%Y-%m-%d %H:%M}", until=f"{last:%Y-%m-%d %H:%M}", timezone=req.subscriber.timezone)
    if cut:
        caption += "\n" + t(req.lang, "export_cut", limit=MAX_ROWS)
    return Reply(caption + "\n" + t(req.lang, "export_more_hint"), file=ReplyFile(name, data))
