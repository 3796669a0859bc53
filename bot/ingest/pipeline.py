"""The pipeline every source feeds: post -> store once -> match -> matches.

Live updates, backfill, gap fill and export imports all come through `ingest()`, so a post seen by
several of them is one row. A batch is one transaction: it lands whole or not at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.domain import IngestResult, Matcher
from bot.matching import index_text
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.repos import ensure_channel, insert_ignore, posts_by_message_id, rules_for_matching

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, db: Database, matcher_factory: Callable[[Iterable[domain.Rule]], Matcher]) -> None:
        self.db = db
        self._factory = matcher_factory
        self._matcher: Matcher | None = None

    async def reload_rules(self) -> Matcher:
        async with self.db.uow(read_only=True) as session:
            rules = await rules_for_matching(session)
        self._matcher = self._factory(rules)
        return self._matcher

    async def matcher(self) -> Matcher:
        return self._matcher if self._matcher is not None else await self.reload_rules()

    async def ingest(self, posts: Sequence[domain.Post]) -> IngestResult:
        """Store and match one batch of posts in one transaction."""
        matcher = await self.matcher()
        result = IngestResult()
        by_channel: dict[domain.ChannelRef, list[domain.Post]] = defaultdict(list)
        for post in domain.unique_by(posts):
            by_channel[post.channel].append(post)
        async with self.db.uow() as session:
            for ref, items in by_channel.items():
                channel = await ensure_channel(session, ref)
                to_match = await self._store(session, channel, items, result)
                await self._match(session, matcher, channel, to_match, result)
        return result

    async def ingest_stream(self, posts: AsyncIterable[domain.Post], batch_size: int = 500) -> IngestResult:
        total = IngestResult()
        batch: list[domain.Post] = []
        async for post in posts:
            batch.append(post)
            if len(batch) >= batch_size:
                total += await self.ingest(batch)
                batch = []
        if batch:
            total += await self.ingest(batch)
        return total

    async def _store(
        self, session: AsyncSession, channel: m.Channel, items: list[domain.Post], result: IngestResult
    ) -> list[m.Post]:
        ids = [p.message_id for p in items]
        existing = await posts_by_message_id(session, channel.id, ids)
        fresh = [p for p in items if p.message_id not in existing]
        if fresh:
            await session.execute(
                insert_ignore(session, m.Post, ["channel_id", "message_id"]),
                [_row(channel.id, p) for p in fresh],
            )
        stored = await posts_by_message_id(session, channel.id, ids)
        to_match: list[m.Post] = []
        for post in items:
            row = stored[post.message_id]
            if post.message_id not in existing:
                result.stored += 1
                to_match.append(row)
            elif _apply_change(session, row, post):
                result.updated += 1
                to_match.append(row)
            else:
                result.unchanged += 1
        newest = max(items, key=lambda p: p.message_id)
        if newest.message_id > channel.last_message_id:
            channel.last_message_id = newest.message_id
            channel.last_post_at = newest.date
        return to_match

    async def _match(
        self, session: AsyncSession, matcher: Matcher, channel: m.Channel, posts: list[m.Post], result: IngestResult
    ) -> None:
        key = channel.username or str(channel.telegram_id)
        rows = [
            {"rule_id": hit.rule_id, "post_id": post.id, "highlights": [list(h) for h in hit.highlights]}
            for post in posts
            if post.text and not post.deleted
            for hit in matcher.match(post.text, key)
        ]
        if not rows:
            return
        # RETURNING yields only the rows actually inserted: the matches that are new
        inserted = await session.scalars(
            insert_ignore(session, m.Match, ["rule_id", "post_id"]).returning(m.Match.id), rows
        )
        new = sorted(inserted)
        result.matches += len(new)
        result.new_match_ids.extend(new)


def _row(channel_id: int, post: domain.Post) -> dict[str, object]:
    forward = post.forward or domain.ForwardOrigin()
    return {
        "channel_id": channel_id,
        "message_id": post.message_id,
        "date": post.date,
        "text": post.text,
        "text_hash": post.text_hash,
        "lemma_text": index_text(post.text),
        "edit_date": post.edit_date,
        "deleted": post.deleted,
        "views": post.views,
        "forward_channel_id": forward.channel_id,
        "forward_message_id": forward.message_id,
        "forward_name": forward.name,
        "grouped_id": post.grouped_id,
        "media_type": post.media_type,
        "reply_to": post.reply_to,
        "stored_at": datetime.now(UTC),
    }


def _apply_change(session: AsyncSession, row: m.Post, post: domain.Post) -> bool:
    """Update a stored post from a newer sighting. True when its text changed (a real edit) or it was deleted.

    A reaction or view count change arrives as an "edit" too: only the text hash tells a real one.
    """
    if post.views is not None and post.views != row.views:
        row.views = post.views
    if post.deleted and not row.deleted:
        row.deleted = True
        return True
    if post.text_hash == row.text_hash:
        return False
    session.add(m.PostVersion(post_id=row.id, text_hash=row.text_hash, text=row.text))
    row.text = post.text
    row.text_hash = post.text_hash
    row.lemma_text = index_text(post.text)
    row.edit_date = post.edit_date or datetime.now(UTC)
    if post.media_type:
        row.media_type = post.media_type
    return True


async def as_async(posts: Iterable[domain.Post]) -> AsyncIterator[domain.Post]:
    """Feed a plain iterable (an export being read) to `Pipeline.ingest_stream`."""
    for post in posts:
        yield post
