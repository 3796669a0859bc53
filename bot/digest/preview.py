"""The preview: the digest a subscriber with these rules would receive, built from stored posts
with the same builder and renderer the bot uses. Sends nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.digest.builder import BuiltDigest, build_digest, digest_title
from bot.domain import Rule
from bot.i18n import DEFAULT_LANGUAGE, known_language
from bot.matching import compile_rules, parse_rule
from bot.storage import digests as store
from bot.storage.database import Database
from bot.storage.digests import MatchRow


def read_rules(lines: Sequence[str], settings: Settings) -> list[Rule]:
    """One rule a line; blank lines and lines starting with # are skipped. Raises ValueError naming
    the line (a RuleError's message says what is wrong and gives an example)."""
    rules: list[Rule] = []
    for number, line in enumerate(lines, 1):
        source = line.strip()
        if not source or source.startswith("#"):
            continue
        try:
            parse_rule(source, max_length=settings.matching.max_rule_length, max_terms=settings.matching.max_terms)
        except ValueError as exc:
            raise ValueError(f"line {number}: {source!r}: {exc}") from None
        rules.append(Rule(id=len(rules) + 1, source=source))
    if not rules:
        raise ValueError("the rules file holds no rule; write one rule a line, for example: обстрел OR shelling")
    return rules


def period(since: date | None, until: date | None, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """Local dates to a UTC window: from the start of `since` to the end of `until`; by default
    the last 24 hours up to now, like a daily digest."""
    zone = ZoneInfo(tz)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=zone) if until else now.astimezone(zone)
    start = datetime.combine(since, time(), tzinfo=zone) if since else end - timedelta(days=1)
    if start >= end:
        raise ValueError(f"--since {start:%Y-%m-%d} is not before --until; give an earlier --since")
    return start, end


async def subscriber_language_and_zone(db: Database, chat_id: int) -> tuple[str, str] | None:
    """The language and timezone of the subscriber of this chat (None when there is none)."""
    async with db.uow(read_only=True) as session:
        found = await store.language_and_zone(session, chat_id)
    return (known_language(found[0]), found[1]) if found is not None else None


async def preview_digest(
    db: Database, settings: Settings, rules: list[Rule], *, since: datetime, until: datetime, tz: str,
    daily_title: bool, lang: str = DEFAULT_LANGUAGE,
) -> BuiltDigest:
    """The digest in `lang`, byte for byte what the scheduler queues for a subscriber with these
    rules, this timezone and this language."""
    matcher = compile_rules(rules)
    names = {r.id: r.source for r in rules}
    rows: list[MatchRow] = []
    async with db.uow(read_only=True) as session:
        for post, channel in await store.posts_between(session, since, until):
            if not post.text:
                continue
            for hit in matcher.match(post.text, channel.username or str(channel.telegram_id)):
                rows.append(MatchRow(
                    hit.rule_id, names[hit.rule_id], post.id, channel.id, channel.telegram_id, channel.username,
                    channel.title or channel.username or str(channel.telegram_id), post.message_id, post.date,
                    post.text, tuple(hit.highlights), post.views, post.forward_channel_id, post.forward_message_id,
                ))
    lang = known_language(lang)
    title = digest_title("daily" if daily_title else "preview", since, until, tz, lang)
    return build_digest(rows, tz=tz, title=title, size=settings.digest.max_items,
                        excerpt_chars=settings.digest.excerpt_chars, lang=lang)
