"""The search index written behind ingestion; SQLite's FTS5 table keeps membership only

- ``ix_posts_unindexed``: a partial index over the posts whose ``lemma_text`` is NULL, which now
  means "stored, not in the search index yet". Ingestion stores posts that way and the search
  indexer (bot/matching/indexer.py) fills them in, oldest first, through this index.
- SQLite: ``posts_fts`` re-created with ``detail=none, columnsize=0`` (no positions, no per-row
  sizes): search only asks which posts hold a key. The index is rebuilt from posts.lemma_text.

PostgreSQL: the partial index only (its GIN index already indexes an empty vector for NULL).

Revision ID: 0012_deferred_search_index
Revises: 0011_fts_ascii_tokenizer
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_deferred_search_index"
down_revision: str | None = "0011_fts_ascii_tokenizer"
branch_labels = None
depends_on = None

_PENDING = sa.text("lemma_text IS NULL")


def _recreate(options: str) -> None:
    from bot.matching.fts import drop_index, ensure_index

    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        drop_index(conn)
        ensure_index(conn, rebuild=True, tokenizer="ascii", options=options)


def upgrade() -> None:
    op.create_index("ix_posts_unindexed", "posts", ["id"], sqlite_where=_PENDING, postgresql_where=_PENDING)
    _recreate("detail=none, columnsize=0")


def downgrade() -> None:
    from bot.matching.fts import fill_lemma_text
    from bot.matching.index import index_text

    # the schema before this one indexes every post at once: fill in what was still pending
    fill_lemma_text(op.get_bind(), index_text, only_missing=True)
    _recreate("")
    op.drop_index("ix_posts_unindexed", table_name="posts")
