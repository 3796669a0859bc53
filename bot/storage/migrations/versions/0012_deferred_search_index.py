"""The search index written behind ingestion; SQLite's FTS5 table keeps membership only

- ``ix_posts_unindexed``: a partial index over the posts whose ``lemma_text`` is NULL, which now
  means "stored, not in the search index yet". Ingestion stores posts that way and the search
  indexer (bot/search/indexer.py) fills them in, oldest first, through this index.
- SQLite: ``posts_fts`` re-created with ``detail=none, columnsize=0`` (no positions, no per-row
  sizes): search only asks which posts hold a key. The index is rebuilt from posts.lemma_text.

PostgreSQL: the partial index only (its GIN index already indexes an empty vector for NULL).

The SQL below is this revision's own frozen copy (it imports nothing from bot.*): upgrade creates
the index as it was at this revision, downgrade as it was before it. Going back fills in the posts
still pending with the running code's normalisation, which the migration environment hands in as
``config.attributes["lemma_text"]`` (bot/storage/migrations/env.py; see 0003).

Revision ID: 0012_deferred_search_index
Revises: 0011_fts_ascii_tokenizer
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import Connection

revision: str = "0012_deferred_search_index"
down_revision: str | None = "0011_fts_ascii_tokenizer"
branch_labels = None
depends_on = None

_PENDING = sa.text("lemma_text IS NULL")

_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5("
    "lemma_text, content='posts', content_rowid='id', {options}tokenize='ascii')"
)
_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE OF lemma_text ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
]
_DROP = [
    "DROP TRIGGER IF EXISTS posts_fts_au",
    "DROP TRIGGER IF EXISTS posts_fts_ad",
    "DROP TRIGGER IF EXISTS posts_fts_ai",
    "DROP TABLE IF EXISTS posts_fts",
]
_REBUILD = "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')"

_POSTS = sa.table("posts", sa.column("id", sa.Integer), sa.column("text", sa.Text), sa.column("lemma_text", sa.Text))


def _recreate(options: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for statement in [*_DROP, _CREATE.format(options=options), *_TRIGGERS, _REBUILD]:
            conn.exec_driver_sql(statement)


def _fill_pending(conn: Connection, lemma_text: Callable[[str], str], batch: int = 1000) -> None:
    """lemma_text of the posts that have none, in batches of ``batch`` posts."""
    last = 0
    update = sa.update(_POSTS).where(_POSTS.c.id == sa.bindparam("pid")).values(lemma_text=sa.bindparam("lemmas"))
    while True:
        query = (
            sa.select(_POSTS.c.id, _POSTS.c.text)
            .where(_POSTS.c.id > last, _POSTS.c.lemma_text.is_(None))
            .order_by(_POSTS.c.id)
            .limit(batch)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        conn.execute(update, [{"pid": r.id, "lemmas": lemma_text(r.text or "")} for r in rows])
        last = rows[-1].id


def upgrade() -> None:
    op.create_index("ix_posts_unindexed", "posts", ["id"], sqlite_where=_PENDING, postgresql_where=_PENDING)
    _recreate("detail=none, columnsize=0, ")


def downgrade() -> None:
    # the schema before this one indexes every post at once: fill in what was still pending
    _fill_pending(op.get_bind(), context.config.attributes["lemma_text"])
    _recreate("")
    op.drop_index("ix_posts_unindexed", table_name="posts")
