"""Archive search: the database's full-text index over the stored posts, and search through it.

Built on `bot.matching` (the rules, the word analysis, the matcher) and `bot.storage` (the posts):
- `query.py`: `search_posts`, the index finds candidates (plus the posts not indexed yet), the
  matcher confirms them; used by the bot's /search, a new rule's dry run and `tgmon search`;
- `conditions.py`: a parsed rule as a necessary condition over the index keys, written as an FTS5
  MATCH query or a PostgreSQL tsquery;
- `indexer.py`: `SearchIndexer`, which writes stored posts into the index behind ingestion;
- `reindex.py`: `reindex`, every post's lemma text again (`tgmon reindex`);
- `fts.py`: the index itself (SQLite FTS5 table and triggers, PostgreSQL GIN index).
"""

from __future__ import annotations

from bot.search.indexer import SearchIndexer, index_pending, pending_count
from bot.search.query import FoundPost, SearchResult, search_posts
from bot.search.reindex import reindex

__all__ = ["FoundPost", "SearchIndexer", "SearchResult", "index_pending", "pending_count", "reindex", "search_posts"]
