"""The pipeline every source feeds: post -> store once -> match -> matches.

Live updates, backfill, gap fill and export imports all come through `ingest()`, so a post seen by
several of them is one row. A batch is one transaction: it lands whole or not at all.

New and edited posts are stored "not in the search index yet" (lemma_text NULL); the pipeline's
`SearchIndexer` writes them into the index in the background, once ingestion is quiet, so
matching and alerts never wait for the full-text index (bot/search/indexer.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot import domain
from bot.domain import IngestResult, Matcher
from bot.ingest.rule_watch import RuleChangeWatcher
from bot.matching.text import Tokens, tokenize
from bot.search import SearchIndexer
from bot.storage import matches as stored_matches
from bot.storage import models as m
from bot.storage import posts as stored_posts
from bot.storage.database import Database, Session
from bot.storage.repos import ensure_channel, posts_by_message_id
from bot.storage.rules import rules_for_matching

if TYPE_CHECKING:
    from bot.ingest.topics import TopicWorker

log = logging.getLogger(__name__)

_ToMatch = tuple[int, str, Tokens | None]  # post id, text, its tokens when already made


class Pipeline:
    INCREMENTAL_CHANGES = 50  # rule changes at once applied to the serving matcher; more: a rebuild
    PATCHES_BEFORE_REBUILD = 2_000  # removed rules leave their terms behind: rebuild now and then
    def __init__(
        self,
        db: Database,
        matcher_factory: Callable[[Iterable[domain.Rule]], Matcher],
        indexer: SearchIndexer | None = None,
        watcher: RuleChangeWatcher | None = None,
        *,
        embed_posts: bool = False,
    ) -> None:
        self.db = db
        self._factory = matcher_factory
        self._matcher: Matcher | None = None
        self._rules: dict[int, domain.Rule] = {}  # what the matcher holds, by rule id
        self._patched = 0  # rule changes applied in place since the matcher was built
        self.indexer = indexer or SearchIndexer(db)
        self.watcher = watcher  # rule changes of other processes (None: only this process changes rules)
        # told after a batch that stored new matches (committed): the scheduler of this process
        # builds instant alerts at once instead of at its next look
        self.on_matches: list[Callable[[], None]] = []
        # topic rules (~"..."): posts embedded behind the keyword path (bot/ingest/topics.py); only
        # with the semantic extra, and only where the composition root asks for it
        # made on the first batch this process ingests: a process that never ingests (a bot or a
        # delivery role) never loads the model
        self.topics: TopicWorker | None = None
        self._embed_posts = embed_posts

    async def rules_changed(self) -> None:
        """A rule was added, changed or removed in this process. A process that matches (it has
        built its matcher) applies the change now; one that never matches (a bot-only process)
        compiles nothing: it builds its matcher, from the rules as they are then, on its first match."""
        if self._matcher is not None:
            await self.reload_rules()

    async def reload_rules(self) -> Matcher:
        """The rules as stored now. A few changes are applied to the serving matcher in place (in
        the event loop, between two matches); many, or the first load, build a new matcher off the
        loop, warmed with the words the old one had in use."""
        if self.watcher is not None:
            await self.watcher.remember()  # before reading: a change made meanwhile is seen next time
        async with self.db.uow(read_only=True) as session:
            rules = await rules_for_matching(session)
        wanted = {rule.id: rule for rule in rules}
        old = self._matcher
        if old is not None:
            gone = [rid for rid, rule in self._rules.items() if wanted.get(rid) != rule]
            new = [rule for rid, rule in wanted.items() if self._rules.get(rid) != rule]
            changes = len(gone) + len(new)
            if changes <= self.INCREMENTAL_CHANGES and self._patched + changes <= self.PATCHES_BEFORE_REBUILD:
                for rule_id in gone:
                    old.remove(rule_id)
                for rule in new:
                    old.add(rule)
                self._rules = wanted
                self._patched += changes
                log.debug("matcher patched: %d rules out, %d in", len(gone), len(new))
                return old
        # compiled off the event loop: with 10,000 rules a build takes about a second, and live
        # updates, sends and heartbeats must keep running meanwhile; the old matcher serves until then
        self._matcher = await asyncio.to_thread(self._build, rules, old)
        self._rules, self._patched = wanted, 0
        return self._matcher

    def _build(self, rules: list[domain.Rule], old: Matcher | None) -> Matcher:
        """A new matcher, warmed with the words the old one had in use (`Matcher.warm_from`): a
        rule change must not make every word of a channel new again."""
        matcher = self._factory(rules)
        if old is not None:
            words = matcher.warm_from(old)
            log.debug("matcher rebuilt with %d rules, warmed with %d words", len(rules), words)
        return matcher

    async def matcher(self) -> Matcher:
        if self._matcher is None or (self.watcher is not None and await self.watcher.changed()):
            return await self.reload_rules()
        return self._matcher

    async def ingest(self, posts: Sequence[domain.Post]) -> IngestResult:
        """Store and match one batch of posts in one transaction."""
        matcher = await self.matcher()
        result = IngestResult()
        by_channel: dict[domain.ChannelRef, list[domain.Post]] = defaultdict(list)
        for post in domain.unique_by(posts):
            by_channel[post.channel].append(post)
        edited: list[int] = []
        if self._embed_posts and self.topics is None:
            from bot.ingest.topics import TopicWorker

            self.topics = await asyncio.to_thread(TopicWorker, self.db, self.matcher, stored_matches.insert)  # loads the model
            self.topics.on_matches.append(self._tell_matches)
        if self.topics is not None:
            await self.topics.prepare()
        with self.indexer.ingesting():
            async with self.db.uow() as session:
                for ref, items in by_channel.items():
                    channel = await ensure_channel(session, ref)
                    to_match = await self._store(session, channel, items, result)
                    await self._match(session, matcher, channel, to_match, result)
                    edited += [pid for pid, _, toks in to_match if toks is None]  # new posts come tokenised
        if result.stored or result.updated:
            self.indexer.wake()
            if self.topics is not None:
                self.topics.wake(edited)
        if result.matches:
            self._tell_matches()
        return result

    def _tell_matches(self) -> None:
        for listener in self.on_matches:
            listener()

    async def flush_index(self) -> int:
        """Write every stored post into the search index now (one-shot commands call it before exit),
        and, when some rule holds a topic, embed the posts and store their topic matches too (about
        30 posts a second on one core: an import with topic rules takes that long)."""
        done = await self.indexer.flush()
        if self.topics is not None and getattr(await self.matcher(), "has_topics", lambda: False)():
            await self.topics.close()
            await self.topics.catch_up()
        return done

    async def close(self) -> None:
        """Stop background indexing; what is still pending stays pending, for the next run."""
        await self.indexer.close()
        if self.topics is not None:
            await self.topics.close()

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
        self, session: Session, channel: m.Channel, items: list[domain.Post], result: IngestResult
    ) -> list[_ToMatch]:
        """Insert the new posts and apply real changes to known ones. Returns what to match: (post id,
        text, its tokens when already made: a new post is tokenised once, for the matcher).

        Bulk statements only: one SELECT of the few columns that tell a change, one multi-row
        INSERT ... ON CONFLICT DO NOTHING RETURNING (the ids of the rows actually inserted); ORM rows
        are loaded only for the posts that changed.
        """
        known = await stored_posts.sightings(session, channel.id, [p.message_id for p in items])
        to_match: list[_ToMatch] = []
        fresh = [p for p in items if p.message_id not in known]
        if fresh:
            tokens = {p.message_id: tokenize(p.text) for p in fresh if p.text}
            new_ids = {message_id: post_id for post_id, message_id in await stored_posts.insert_new(session, channel.id, fresh)}
            for post in fresh:
                post_id = new_ids.get(post.message_id)
                if post_id is None:  # another writer stored it between our SELECT and INSERT
                    result.unchanged += 1
                    continue
                result.stored += 1
                if post.text and not post.deleted:
                    to_match.append((post_id, post.text, tokens.get(post.message_id)))
        changed = [p for p in items if p.message_id in known and _differs(known[p.message_id], p)]
        result.unchanged += sum(1 for p in items if p.message_id in known) - len(changed)
        if changed:
            rows = await posts_by_message_id(session, channel.id, [p.message_id for p in changed])
            for post in changed:
                row = rows[post.message_id]
                if _apply_change(session, row, post):
                    result.updated += 1
                    if row.text and not row.deleted:
                        to_match.append((row.id, row.text, None))
                else:
                    result.unchanged += 1
        newest = max(items, key=lambda p: p.message_id)
        if newest.message_id > channel.last_message_id:
            channel.last_message_id = newest.message_id
            channel.last_post_at = newest.date
        return to_match

    async def _match(
        self,
        session: Session,
        matcher: Matcher,
        channel: m.Channel,
        posts: list[_ToMatch],
        result: IngestResult,
    ) -> None:
        key = channel.username or str(channel.telegram_id)
        hits = [
            (hit, post_id)
            for post_id, text, toks in posts
            for hit in (matcher.match_tokens(toks, key) if toks is not None else matcher.match(text, key))
        ]
        if not hits:
            return
        new = await stored_matches.insert(session, hits)
        new.sort()
        result.matches += len(new)
        result.new_match_ids.extend(new)


def _differs(stored: Any, post: domain.Post) -> bool:
    """A newer sighting that changes something: the text, a deletion, or the view count."""
    return (
        stored.text_hash != post.text_hash
        or (post.deleted and not stored.deleted)
        or (post.views is not None and post.views != stored.views)
    )


def _apply_change(session: Session, row: m.Post, post: domain.Post) -> bool:
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
    stored_posts.keep_version(session, row)
    row.text = post.text
    row.text_hash = post.text_hash
    row.lemma_text = None  # the search indexer re-indexes the new text
    row.edit_date = post.edit_date or datetime.now(UTC)
    if post.media_type:
        row.media_type = post.media_type
    return True


async def as_async(posts: Iterable[domain.Post]) -> AsyncIterator[domain.Post]:
    """Feed a plain iterable (an export being read) to `Pipeline.ingest_stream`."""
    for post in posts:
        yield post
