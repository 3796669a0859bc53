"""Digests: select a subscriber's matches for a period, render them, split them for Telegram."""

from __future__ import annotations

from datetime import datetime

from bot.digest.render import DigestItem, render_items_html, split_chunks, utf16_len
from bot.storage.database import Database
from bot.storage.repos import matches_between


async def digest_items(db: Database, subscriber_id: int, since: datetime | None, until: datetime) -> list[DigestItem]:
    async with db.uow(read_only=True) as session:
        rows = await matches_between(session, subscriber_id, since, until)
    return [
        DigestItem(
            rule=rule.name or rule.source,
            channel_title=channel.title,
            channel_username=channel.username,
            channel_telegram_id=channel.telegram_id,
            message_id=post.message_id,
            date=post.date,
            text=post.text,
            highlights=tuple((int(a), int(b)) for a, b in match.highlights),
        )
        for match, rule, post, channel in rows
    ]


__all__ = ["DigestItem", "digest_items", "render_items_html", "split_chunks", "utf16_len"]
