"""Search over the stored posts: newest first, stopping at the page.

Used by the bot's /search and a new rule's preview at /watch ("it matches N posts of the last 7
days"), and by `tgmon search`. How a search runs (`search_posts`):

1. The rule becomes a condition over the full-text index (conditions.py; None for a rule of
   /patterns/ alone, whose required literals (bot/matching/literals.py) then narrow the posts read).
2. Posts are read newest first in date windows: the last day, then the 8 days before it, 64, 512,
   ... back to ``since`` or the oldest post. Within a window the database returns the newest
   candidates a chunk at a time (ORDER BY date, id DESC with a keyset); the search stops as soon as
   it holds the page. A common word fills the page from the first day; a rare one costs a few index
   lookups, each bounded by its window. The matcher confirms every candidate (and finds highlights);
   a rule's phrases first pass `PhraseGate` (forms.py), which turns away, from the words alone, the
   candidates where they cannot stand in a row. The database has already kept only the posts whose
   words stand in a row, but for those where it does not know (stored before the migration and not
   reindexed since): on PostgreSQL by position (``posts.phrase_tsv``, `phrase_tsquery`), on SQLite
   by the pairs of adjacent words' keys in FTS5 (``posts.phrase_pairs``, `fts5_pairs`).
3. The total: a rule the index answers exactly (words, AND, OR, NOT of words) is counted in the
   index up to COUNT_CAP; past it the answer is "at least COUNT_CAP" (``exact`` False). Any other
   rule is counted by confirming candidates beyond the page while MATCH_BUDGET lasts, and for no
   longer than the page took (`_Search.counted_enough`: at least COUNT_FLOOR); what is left unread
   makes the count a lower bound ("at least N"). A rule with no index condition (a regex)
   reads posts for at most SCAN_BUDGET: if the page is not full by then, the result says how far
   back it read (``searched_since``).
4. Posts stored but not indexed yet (the indexer runs behind ingestion) are candidates too: the
   newest MAX_PENDING of them, found through their partial index, confirmed by the matcher.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import MatchingSettings
from bot.domain import Rule, post_link
from bot.matching.literals import exotic, required_literals
from bot.matching.matcher import CompiledMatcher, compile_rules
from bot.matching.rules import Expr, ParsedRule, parse_rule
from bot.matching.text import fold, tokenize
from bot.search.conditions import (
    condition,
    exact_by_index,
    fts5_pairs,
    fts5_query,
    phrase_tsquery,
    tsquery,
    with_pairs,
)
from bot.search.forms import PhraseGate, rule_forms
from bot.search.fts import PG_PHRASES, PG_VECTOR
from bot.storage import models as m
from bot.storage.database import Database

COUNT_CAP = 1_000  # matches counted exactly up to this many; beyond: "at least COUNT_CAP"
FIRST_WINDOW = timedelta(days=1)  # the newest window; each next one is WINDOW_GROWTH times longer
WINDOW_GROWTH = 8
CHUNK = 200  # candidates read at a time when the matcher may refuse some
MAX_CHUNK = 800  # PostgreSQL: candidates read at a time, growing to this many while their rows' conditions keep few
PAIRED_CHUNK = 400  # SQLite: candidates read at most at a time for a phrase asked as pairs (`_sqlite_fts`)
MAX_CONFIRM = 2_000  # candidates confirmed at most for counting, beyond the page
MATCH_BUDGET = 0.4  # seconds of matching one search may spend (the page first, then counting)
SCAN_BUDGET = 0.7  # seconds a search may read posts for its first page before it answers with what it has
COUNT_FLOOR = 0.1  # seconds counting beyond a full page may always take; beyond it, at most what the page took
# PostgreSQL: a window after the first day in which the planner expects at most this many candidates
# is read through the full-text index whole (a bitmap), not by walking the date index: the planner's
# estimate for a prefix or a rare word is often far too high, and the walk then reads the window's
# every post to find none (`парл*` over a year of a million posts: 11.5 s; through the index: ms)
RARE_WINDOW = 20_000
COUNT_SCAN = 20_000  # SQLite: index matches read at most to count a rule's (beyond: "at least N")
# PostgreSQL: a window opened only to count a phrase's matches beyond a full page holds at most this
# many candidates (more: the total is "at least N")
COUNT_WINDOW = 2_000
IO_CONCURRENCY = 64  # PostgreSQL: pages a search's bitmap scans ask the disk for ahead
SEARCH_WORK_MEM = "64MB"  # PostgreSQL: a search's bitmaps stay exact (a window of 4M posts: ~60 MB)
MAX_PENDING = 2_000  # newest posts not indexed yet read as candidates; a larger backlog makes the total inexact


@dataclass(frozen=True, slots=True)
class FoundPost:
    post_id: int
    channel_username: str | None
    channel_title: str
    message_id: int
    date: datetime
    text: str
    highlights: tuple[tuple[int, int], ...]
    link: str
    closeness: float | None = None  # a topic rule's: how close the post is to its topic (0..1)


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int  # posts that match; a lower bound when `exact` is False ("at least total")
    posts: list[FoundPost]  # newest first, at most `limit`
    exact: bool = True  # False: counting every match would take longer than the page; at least `total` match
    # set when the search stopped reading before it reached `since` (a /pattern/ with few matches in
    # a large archive): `posts` and `total` are of the posts dated from here on
    searched_since: datetime | None = None
    near: list[FoundPost] = field(default_factory=list)  # a topic rule's closest posts that missed it


def _scope(asked: Sequence[str], own: Sequence[str]) -> set[str]:
    a = {c.lower().lstrip("@") for c in asked if c}
    b = set(own)
    return a & b if a and b else a | b


def _literals(rule: ParsedRule) -> tuple[str, ...]:
    """Text every matching post contains one of (from the rule's /patterns/), or () when none is
    required: narrows what a rule with no index condition reads."""

    def walk(e: Expr) -> tuple[str, ...] | None:
        if e[0] == "term":
            term = rule.terms[e[1]]
            return (required_literals(term.regex.source) or None) if term.regex is not None else None
        if e[0] == "not":
            return None
        found = [walk(c) for c in e[1]]
        if e[0] == "and":
            return next((f for f in found if f), None)
        if all(found):
            return tuple(dict.fromkeys(x for f in found for x in f or ()))
        return None

    return walk(rule.expr) or ()


@dataclass
class _Search:
    """One search's state: the page found so far and what confirming cost."""

    matcher: CompiledMatcher
    limit: int
    literals: tuple[str, ...]
    # a rule the index answers exactly: every candidate matches, the matcher only finds highlights,
    # and a word that is none of the rule's forms is not analysed (a cold word costs ~0.1 ms)
    forms: frozenset[str] | None = None
    rule: str = ""
    # the rule's phrases: a post whose words cannot hold them in a row is not given to the matcher
    gate: PhraseGate | None = None
    # a phrase rule's words' every form (None: not all known): a row whose positions the database
    # checked (``placed``) holds the phrases, so only these words need the dictionaries
    phrase_forms: frozenset[str] | None = None
    placed_matcher: CompiledMatcher | None = None
    found: list[FoundPost] = field(default_factory=list)
    confirmed: int = 0  # matches seen (the page and beyond)
    checked: int = 0  # candidates given to the matcher
    spent: float = 0.0  # seconds in the matcher
    oldest_read: datetime | None = None
    began: float = field(default_factory=time.perf_counter)
    page_size: int = 0  # the page asked for (`limit` may be raised to keep more); 0: `limit`
    page_took: float | None = None  # seconds from `began` until the page was full

    def counted_enough(self) -> bool:
        """Whether counting beyond a full page should stop: an exact total must not cost more than
        the page did (at least COUNT_FLOOR, never past SCAN_BUDGET); the total is then "at least N"."""
        if self.page_took is None:
            return False
        elapsed = time.perf_counter() - self.began
        return elapsed > min(SCAN_BUDGET, self.page_took + max(self.page_took, COUNT_FLOOR))

    def confirm(self, row: Any) -> None:
        text = row.text or ""
        if self.literals:
            folded = text.lower().replace("ё", "е")
            if not any(lit in folded for lit in self.literals) and exotic().search(folded) is None:
                return
        began = time.perf_counter()
        channel = row.username or str(row.telegram_id)
        if self.gate is not None:
            # from the text and the post's index keys when they tell (most posts: no tokenising)
            fits = self.gate.may_match_text(fold(text), getattr(row, "lemma_text", None))
            toks = tokenize(text) if fits is not False else None
            if toks is None or (fits is None and not self.gate.may_match(toks.words)):
                self.spent += time.perf_counter() - began
                self.checked += 1
                return
            if self.phrase_forms is not None and getattr(row, "placed", False):
                # the database found the phrases' words in a row: the rest are not analysed (a cold
                # word costs ~0.1 ms); no hits then means a form the dictionaries do not list. A
                # matcher of its own: the words it takes as no hits must not be so for a row
                # without positions, which the whole matcher confirms
                if self.placed_matcher is None:
                    self.placed_matcher = compile_rules([Rule(0, self.rule)], settings=self.matcher.settings)
                placed = self.placed_matcher
                placed.assume_no_hits(w for w in toks.words if w not in self.phrase_forms and not w.isascii())
                hits = placed.match_tokens(toks, channel) if text else []
                if not hits:
                    hits = compile_rules([Rule(0, self.rule)], settings=self.matcher.settings).match(text, channel)
            else:
                hits = self.matcher.match_tokens(toks, channel) if text else []
        elif self.forms is not None:
            toks = tokenize(text)
            forms = self.forms
            self.matcher.assume_no_hits(w for w in toks.words if w not in forms and not w.isascii())
            hits = self.matcher.match_tokens(toks, channel) if text else []
            if not hits:  # a form the dictionaries do not list: the index said it matches; look it up
                hits = compile_rules([Rule(0, self.rule)], settings=self.matcher.settings).match(text, channel)
        else:
            hits = self.matcher.match(text, channel)
        self.spent += time.perf_counter() - began
        self.checked += 1
        if not hits:
            return
        self.confirmed += 1
        if self.page_took is None and self.confirmed >= (self.page_size or self.limit):
            self.page_took = time.perf_counter() - self.began
        if len(self.found) < self.limit:
            self.found.append(FoundPost(
                row.id, row.username, row.title or "", row.message_id, row.date, text,
                hits[0].highlights, post_link(row.username, row.telegram_id, row.message_id),
            ))


def _rows_query(filters: list[Any], *, keys: bool = False, placed: bool = False) -> Any:
    """The candidates' rows; ``keys``: with their index keys too (a phrase's gate reads them);
    ``placed``: with whether the database knew their words' positions (PostgreSQL: then a row read
    under `phrase_tsquery` holds the rule's phrases in a row, word for word)."""
    return (
        sa.select(m.Post.id, m.Post.date, m.Post.message_id, m.Post.text,
                  m.Channel.username, m.Channel.title, m.Channel.telegram_id,
                  *([m.Post.lemma_text] if keys else []),
                  *([sa.literal_column(f"{PG_PHRASES} IS NOT NULL").label("placed")] if placed else []))
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(*filters)
    )


def _windows(since: datetime | None, until: datetime | None, now: datetime, oldest: datetime | None,
             growth: Callable[[], float] | None = None) -> Iterator[tuple[datetime | None, datetime | None]]:
    """[lo, hi) date windows, newest first (the first one's hi is ``until``, inclusive, or open).
    Each window ends where the last one began and reaches back WINDOW_GROWTH times as far from the
    top, or ``growth()`` times (asked after the last window was read)."""
    hi = until
    top = until or now
    reach = FIRST_WINDOW
    while True:
        lo = top - reach
        if since is not None and lo <= since:
            yield since, hi
            return
        if oldest is None or lo <= oldest:
            yield since, hi
            return
        yield lo, hi
        hi, reach = lo, reach * (growth() if growth is not None else WINDOW_GROWTH)


def _window(lo: datetime | None, hi: datetime | None, inclusive_hi: bool) -> list[Any]:
    out: list[Any] = []
    if lo is not None:
        out.append(m.Post.date >= lo)
    if hi is not None:
        out.append(m.Post.date <= hi if inclusive_hi else m.Post.date < hi)
    return out


async def _planned_rows(session: AsyncSession, query: Any) -> float:
    """The planner's estimate of the rows ``query`` returns (PostgreSQL's EXPLAIN, nothing run)."""
    conn = await session.connection()
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = tuple(compiled.params[key] for key in compiled.positiontup or ())
    plan: Any = (await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, params)).scalar()
    return float((plan if isinstance(plan, list) else json.loads(str(plan)))[0]["Plan"]["Plan Rows"])


async def _rare_window(session: AsyncSession, conditions: list[Any], query: sa.Select[Any], size: int,
                       cap: int = RARE_WINDOW, grow: Callable[[], bool] = lambda: True,
                       ) -> AsyncIterator[list[Any]] | None:
    """PostgreSQL: a window the planner expects few candidates in (at most ``cap``) has them read
    through the full-text index at once, where they lie only, then their rows newest first ``size`` at a time;
    None when there are more than that (the caller walks the date index instead)."""
    keys = sa.select(m.Post.date, m.Post.id).where(*conditions)
    if await _planned_rows(session, keys) > cap:
        return None
    # newest first, sorted by the database (15,000 rows: 2 ms there, 30 ms as Python rows); each
    # by where its row lies (ctid): the rows are read again by it, from the pages this listing has
    # just read, not through the primary key, whose leaves the listing did not read (200 random ids:
    # some 170 index pages; a phrase's first search read 15 such chunks, 5-11 ms each). A ctid
    # holds in this transaction's snapshot: the row versions it sees are not removed meanwhile.
    found: list[tuple[int, int]] = list(await session.scalars(sa.select(sa.literal_column("posts.ctid"))
                                       .where(*conditions)
                                       .order_by(m.Post.date.desc(), m.Post.id.desc()).limit(cap + 1)))
    if len(found) > cap:
        return None
    # one array parameter, not a list of `size` parameters compiled into each statement
    chunk_rows = sa.text("posts.ctid = ANY(CAST(:chunk_rows AS tid[]))")

    async def rows() -> AsyncIterator[list[Any]]:
        start, step = 0, size
        while start < len(found):
            chunk = await session.execute(query.where(chunk_rows), {"chunk_rows": found[start:start + step]})
            kept = sorted(chunk, key=lambda r: (r.date, r.id), reverse=True)
            yield kept
            start += step
            # the rows' own conditions (a phrase's positions) keep few: read more at once, while
            # ``grow`` (the page is not full: counting beyond it stops on time, between small chunks)
            if len(kept) * 4 < step and grow():
                step = min(step * 4, MAX_CHUNK)
            elif not grow():
                step = size

    return rows()


async def _chunks(session: AsyncSession, query: sa.Select[Any], lo: datetime | None, hi: datetime | None,
                  inclusive_hi: bool, size: int) -> AsyncIterator[list[Any]]:
    """The window's rows newest first, ``size`` at a time (a keyset on (date, id): each chunk is one
    bounded index read, however deep into the window)."""
    query = query.order_by(m.Post.date.desc(), m.Post.id.desc())
    if lo is not None:
        query = query.where(m.Post.date >= lo)
    if hi is not None:
        query = query.where(m.Post.date <= hi if inclusive_hi else m.Post.date < hi)
    cursor: tuple[datetime, int] | None = None
    while True:
        q = query
        if cursor is not None:
            d, i = cursor
            q = q.where(sa.or_(m.Post.date < d, sa.and_(m.Post.date == d, m.Post.id < i)))
        rows = list(await session.execute(q.limit(size)))
        if rows:
            yield rows
        if len(rows) < size:
            return
        cursor = (rows[-1].date, rows[-1].id)


async def search_posts(
    db: Database,
    rule: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
    channels: Sequence[str] = (),
    settings: MatchingSettings | None = None,
    max_confirm: int = MAX_CONFIRM,
    before: tuple[datetime, int] | None = None,
    count: bool = True,
) -> SearchResult:
    """Posts matching ``rule`` dated in [since, until], newest first. Raises RuleError.

    ``before`` (date, post id) of the last post of a previous page: only posts after it in this
    order (a keyset page; the total counts those too). ``count`` False: no counting beyond the
    page (a next page whose caller shows no total): ``total`` is then what the page read."""
    settings = settings or MatchingSettings()
    parsed = parse_rule(rule, max_length=settings.max_rule_length, max_terms=settings.max_terms)
    matcher = compile_rules([Rule(0, rule)], settings=settings)
    matcher.match("тест test")  # the dictionaries load on a process's first word: not the budget's time
    began = time.perf_counter()
    scope = _scope(channels, parsed.channels)
    if parsed.topic_count:  # found through the vector index (bot/search/topic_search.py)
        from bot.search.topic_search import search_topics

        return await search_topics(db, rule, parsed, since=since, until=until, limit=limit, scope=scope,
                                   settings=settings, max_confirm=max_confirm, before=before)
    cond = condition(parsed)
    by_index = cond is not None and exact_by_index(parsed)
    gate = PhraseGate.of(parsed)
    search = _Search(matcher, limit, _literals(parsed) if cond is None else (),
                     rule_forms(parsed) if by_index else None, rule, gate,
                     phrase_forms=rule_forms(parsed) if gate is not None and db.dialect != "sqlite"
                     and all(term.kind in ("word", "phrase") for term in parsed.terms) else None,
                     began=began, page_size=limit)

    filters: list[Any] = [m.Post.deleted.is_(False)]
    since_filter = m.Post.date >= since if since is not None else None
    if since_filter is not None:
        filters.append(since_filter)
    if until is not None:
        filters.append(m.Post.date <= until)
    if before is not None:  # a keyset page: strictly after the last post shown, in (date, id) order
        filters.append(sa.or_(m.Post.date < before[0], sa.and_(m.Post.date == before[0], m.Post.id < before[1])))
        until = before[0] if until is None else min(until, before[0])
    index: list[Any] = []  # PostgreSQL's condition (SQLite asks FTS5 itself: `_sqlite_fts`)
    positions: list[Any] = []  # PostgreSQL: the required phrases by position, checked on each row read
    if cond is not None and db.dialect != "sqlite":
        index.append(sa.text(f"{PG_VECTOR} @@ to_tsquery('simple', :ts_query)").bindparams(ts_query=tsquery(cond)))
        phrases = phrase_tsquery(parsed)
        if phrases is not None:  # their words in a row, where the post's positions are known
            positions.append(sa.text(f"({PG_PHRASES} IS NULL OR {PG_PHRASES} @@ CAST(:phrase_query AS tsquery))")
                             .bindparams(phrase_query=phrases))

    # one snapshot: a post the indexer writes meanwhile is either pending or indexed, never both or neither
    async with db.uow(read_only=True, snapshot=True) as session:
        if index:
            # a prepared statement reused five times on a connection gets a generic plan, blind to the
            # words and the window: for a rare word it walks the date index over the whole period
            # (the web's search page, asked 40 times: 0.05 s -> 0.8 s, a rare phrase 12 s)
            await session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
            # A window's candidates are the full-text index's ANDed with the date index's window, as
            # bitmaps: in the default work_mem (4 MB) a year of a million posts' bitmap turns lossy,
            # and every candidate's keys are then read again (from TOAST) to check it. Then their
            # rows are read in block order: ask the disk for the next ones ahead (posix_fadvise)
            # rather than one at a time (the default, 1, suits one spinning disk). Listing a rare
            # phrase's 1,449 candidates in a year, not cached: 326 ms -> 84 ms.
            await session.execute(sa.text(f"SET LOCAL work_mem = '{SEARCH_WORK_MEM}'"))
            await session.execute(sa.text(f"SET LOCAL effective_io_concurrency = {IO_CONCURRENCY}"))
        if scope:
            ids = [int(c) for c in scope if c.isdigit()]
            channel_ids = list(await session.scalars(sa.select(m.Channel.id).where(
                sa.or_(m.Channel.username.in_(sorted(scope)), m.Channel.telegram_id.in_(ids)))))
            if not channel_ids:
                return SearchResult(0, [])
            filters.append(m.Post.channel_id.in_(channel_ids))

        # posts stored but not in the index yet: the newest MAX_PENDING, through their partial index
        pending_found: list[FoundPost] = []
        backlog = False
        pending_confirmed = 0
        if cond is not None:
            pending = list(await session.scalars(
                sa.select(m.Post.id).where(m.Post.lemma_text.is_(None)).order_by(m.Post.id.desc()).limit(MAX_PENDING + 1)
            ))
            backlog = len(pending) > MAX_PENDING
            if pending:
                waiting = _Search(matcher, limit, ())
                waiting_rows = _rows_query(filters).where(m.Post.id.in_(pending[:MAX_PENDING]))
                for row in await session.execute(waiting_rows.order_by(m.Post.date.desc(), m.Post.id.desc())):
                    waiting.confirm(row)
                pending_found, pending_confirmed = waiting.found, waiting.confirmed

        if cond is not None and db.dialect == "sqlite":
            # a rule's phrases asked as pairs of adjacent words, where a post's pairs are known
            pairs = fts5_pairs(parsed)
            fts = with_pairs(fts5_query(cond), pairs, unpaired=pairs is not None and await _unpaired(session))
            total, exact, stopped_at = await _sqlite_fts(session, search, filters, fts, since, began,
                                                         by_index=by_index, max_confirm=max_confirm if count else 0,
                                                         since_filter=since_filter, count=count,
                                                         paired=pairs is not None)
        else:
            total, exact, stopped_at = await _by_date(session, search, filters, index, since, until, began,
                                                      by_index=by_index, rule_has_index=cond is not None,
                                                      max_confirm=max_confirm if count else 0, count=count,
                                                      positions=positions)
    found = sorted([*search.found, *pending_found], key=lambda p: (p.date, p.post_id), reverse=True)[:limit]
    return SearchResult(total + pending_confirmed, found, exact and not backlog, stopped_at)


async def _by_date(
    session: AsyncSession, search: _Search, filters: list[Any], index: list[Any], since: datetime | None,
    until: datetime | None, began: float, *, by_index: bool, rule_has_index: bool, max_confirm: int,
    count: bool = True, positions: Sequence[Any] = (),
) -> tuple[int, bool, datetime | None]:
    """Newest first through date windows (PostgreSQL; and a rule with no index condition on SQLite).
    ``positions``: conditions on the rows read (a phrase's words in a row), left out of a window's
    candidate list: there every candidate of the window would pay the check (a long post's positions
    are still read from TOAST), here only those read until the page is full. Checked in the listing,
    40 phrases each asked once were slower at p95 (183-265 ms against 170-234 ms, four samples).
    Returns (total, exact, searched_since)."""
    limit = search.limit
    now = datetime.now(UTC)
    # the oldest post, deleted or not (a plain min() is one index probe; a filter would make SQLite scan)
    oldest = await session.scalar(sa.select(sa.func.min(m.Post.date)))
    query = _rows_query([*filters, *index, *positions], keys=search.gate is not None, placed=bool(positions))
    # a rare window's rows are read by id from its candidates, which met the index condition in this
    # snapshot: not checked again (each check reads the post's keys: about 15 µs)
    by_id = _rows_query([*filters, *positions], keys=search.gate is not None, placed=bool(positions))
    complete = True  # every candidate was read
    page_full = False
    def growth() -> float:
        """How much further back the next window reaches: a rule the matcher confirms has read
        candidates and found matches so far, and their rate says how far back the rest of the page
        lies; the window reaches twice that (at least twice as far as now, at most WINDOW_GROWTH
        times). A window's candidates are read whole, so one far too long costs what it holds (a
        phrase of common words: 9,000 candidates, 0.3 s, for a page that needed 1,300)."""
        need = limit - len(search.found)
        if by_index or need <= 0 or not search.confirmed:
            return WINDOW_GROWTH
        return min(WINDOW_GROWTH, max(2.0, 1 + 2 * need / search.confirmed))

    for lo, hi in _windows(since, until, now, oldest, growth):
        size = max(limit - len(search.found), 1) + 5 if by_index else CHUNK
        chunks = None
        # counting a phrase's matches by position beyond a full page: a window is listed only when its
        # candidates are few (those of a phrase of common words over a year: 12,000, 0.1 s to list,
        # more than the page took); else the total is "at least N"
        counting = page_full and bool(positions)
        if index and (lo is None or (hi is not None and hi - lo > FIRST_WINDOW) or counting):
            chunks = await _rare_window(session, [*filters, *index, *_window(lo, hi, hi is until)], by_id, size,
                                        cap=COUNT_WINDOW if counting else RARE_WINDOW,
                                        grow=lambda: len(search.found) < limit)
            if chunks is None and counting:
                complete = False
                break
        async for rows in chunks or _chunks(session, query, lo, hi, hi is until, size):
            for row in rows:
                # costly /patterns/ must not hold the event loop; a count must not outlast the page
                if search.spent > MATCH_BUDGET or (max_confirm and search.counted_enough()):
                    complete = False
                    break
                search.confirm(row)
                search.oldest_read = row.date
            page_full = len(search.found) >= limit
            if not complete or (page_full and by_index):
                complete = False
                break
            if not page_full and not rule_has_index and time.perf_counter() - began > SCAN_BUDGET:
                complete = False
                break
            if page_full and (search.checked >= max_confirm or search.confirmed > COUNT_CAP
                              or search.counted_enough()):
                complete = False  # counting further would cost more than the page did
                break
        if not complete:
            break
    stopped_at = search.oldest_read if not complete and not page_full else None
    if by_index and count:
        counted = int(await session.scalar(sa.select(sa.func.count()).select_from(
            sa.select(m.Post.id).where(*filters, *index).limit(COUNT_CAP + 1).subquery())) or 0)
        return min(counted, COUNT_CAP), counted <= COUNT_CAP, stopped_at
    return search.confirmed, complete, stopped_at


async def _unpaired(session: AsyncSession) -> bool:
    """SQLite: whether some indexed post has no pairs (stored before migration 0032 and not
    reindexed since): one probe of the partial index that lists them. True on an index of an
    older form (no pairs at all), which only a test of going back through the migrations reads."""
    if await session.scalar(sa.text(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'ix_posts_unpaired'")) is None:
        return True
    return await session.scalar(sa.text(
        "SELECT 1 FROM posts INDEXED BY ix_posts_unpaired WHERE phrase_pairs IS NULL AND lemma_text <> '' LIMIT 1",
    )) is not None


_FTS_IDS = sa.text(
    "SELECT rowid FROM posts_fts WHERE posts_fts MATCH :q AND rowid < :below ORDER BY rowid DESC LIMIT :n"
)


class _Floor:
    """SQLite: the rowid under which no post is dated at or after ``since``, where a walk down
    FTS5's rowids stops. Rowid order is storage order, which is date order but for posts stored
    late, so the first post dated from ``since`` on (one probe of the date index) is where a walk
    stops first; only a walk that gets there asks for the exact floor, the lowest rowid of every
    post dated from ``since`` on (a read of the date index over the whole period: a fifth of a
    second over a year of a million posts), in case some were stored late."""

    def __init__(self, session: AsyncSession, since: datetime | None) -> None:
        self.session = session
        self.since = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if since is not None else None
        self.value = 0
        self.exact = since is None

    async def first(self) -> int:
        if self.since is not None:
            self.value = int(await self.session.scalar(sa.text(
                "SELECT id FROM posts INDEXED BY ix_posts_date WHERE date >= :since ORDER BY date, id LIMIT 1"),
                {"since": self.since}) or 1 << 62)
        return self.value

    async def above(self, below: int) -> bool:
        """Whether rowids under ``below`` may still hold posts dated from ``since`` on."""
        if below > self.value:
            return True
        if not self.exact:
            self.exact = True
            lowest = await self.session.scalar(sa.text(
                "SELECT min(id) FROM posts INDEXED BY ix_posts_date WHERE date >= :since"), {"since": self.since})
            self.value = int(lowest) if lowest is not None else 1 << 62
        return below > self.value


async def _sqlite_fts(
    session: AsyncSession, search: _Search, filters: list[Any], fts: str, since: datetime | None, began: float, *,
    by_index: bool, max_confirm: int, since_filter: Any = None, count: bool = True, paired: bool = False,
) -> tuple[int, bool, datetime | None]:
    """SQLite: FTS5 hands out its matches newest stored first (ORDER BY rowid DESC, a chunk at a
    time, never the whole list); their posts are filtered and confirmed. ``paired``: the rule's
    phrases were asked as pairs, so the candidates are mostly matches: read as few as the page
    needs first, then chunks that double up to PAIRED_CHUNK (a chunk's rows are read before the
    count's time is checked; read from disk, 800 rows cost more than the page did). Rowid order is the order
    posts were stored, which is date order but for posts stored late (a backfill, an import): once
    the page is full, the posts dated at least as new as its oldest that were stored before the
    chunks read are confirmed too, found through the date index. Returns (total, exact, None)."""
    limit = search.limit
    search.limit = limit + MAX_CONFIRM  # keep every post confirmed: rowid order is not quite date order
    below = 1 << 62
    # rowids under the first post of `since` cannot be dated after it, but for posts stored late
    floor = _Floor(session, since)
    await floor.first()
    complete = True
    size = max(limit, 20) + 5 if by_index else limit + 5 if paired else CHUNK
    most = PAIRED_CHUNK if paired else 2000
    while await floor.above(below):
        ids = list(await session.scalars(_FTS_IDS, {"q": fts, "below": below, "n": size}))
        if not ids:
            break
        below = ids[-1]
        rows = sorted(await session.execute(_rows_query(filters, keys=search.gate is not None).where(m.Post.id.in_(ids))),
                      key=lambda r: r.id, reverse=True)
        for row in rows:
            if search.spent > MATCH_BUDGET or (max_confirm and search.counted_enough()):
                complete = False
                below = row.id + 1  # this row and the rest were not read: the check for late posts may
                break  # reach them
            search.confirm(row)
        page_full = search.confirmed >= limit
        if not complete or (page_full and (by_index or search.checked >= max_confirm
                                           or search.confirmed > COUNT_CAP
                                           or search.counted_enough())):
            complete = complete and len(ids) < size
            break
        if len(ids) < size:
            break
        size = min(size * 2, most)
    if search.confirmed >= limit and (below > floor.value or not floor.exact):
        # the page is the newest `limit` of what was read; a post stored before `below` but dated
        # after the page's oldest would belong on it: there are few such posts, if any. Read through
        # the date index from the page's oldest on (`since` left out: it is older, and SQLite would
        # walk the date index from there instead, over the whole period)
        oldest_on_page = sorted((p.date for p in search.found), reverse=True)[limit - 1]
        late = _rows_query([*(f for f in filters if f is not since_filter), m.Post.date >= oldest_on_page,
                            m.Post.id < below])
        for row in await session.execute(late.order_by(m.Post.date.desc()).limit(MAX_CONFIRM)):
            search.confirm(row)  # the matcher decides: it agrees with the index on every indexed post
    search.found.sort(key=lambda p: (p.date, p.post_id), reverse=True)
    del search.found[limit:]
    search.limit = limit
    if by_index and count:
        counted, whole = await _sqlite_count(session, filters, fts, floor, began)
        return min(counted, COUNT_CAP), whole and counted <= COUNT_CAP, None
    return search.confirmed, complete, None


async def _sqlite_count(session: AsyncSession, filters: list[Any], fts: str, floor: _Floor,
                        began: float) -> tuple[int, bool]:
    """Matches counted up to COUNT_CAP + 1, newest stored first, in chunks of FTS5's rowids; at most
    COUNT_SCAN of them are read, for at most what is left of SCAN_BUDGET (a rule scoped to a small
    channel keeps few of a common word's).
    Returns (count, whether every match was read)."""
    counted, below, size, read = 0, 1 << 62, COUNT_CAP + 1, 0
    while counted <= COUNT_CAP and await floor.above(below):
        if read >= COUNT_SCAN or (read and time.perf_counter() - began > SCAN_BUDGET):
            return counted, False
        ids = list(await session.scalars(_FTS_IDS, {"q": fts, "below": below, "n": size}))
        if not ids:
            break
        below, read = ids[-1], read + len(ids)
        counted += int(await session.scalar(
            sa.select(sa.func.count()).select_from(m.Post).where(*filters, m.Post.id.in_(ids))) or 0)
        if len(ids) < size:
            break
        size = min(size * 2, 8000)
    return counted, True
