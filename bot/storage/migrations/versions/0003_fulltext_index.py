"""full-text index over posts.lemma_text: SQLite FTS5 (external content + triggers), PostgreSQL GIN

Fills lemma_text for the posts already stored (with the current normalisation).

The SQL below is this revision's own frozen copy (the index as it was created then: FTS5 with the
`unicode61` tokenizer, positions kept); it imports nothing from bot.*, so later changes to the live
index (bot/search/fts.py) cannot change what this migration does. The one thing it cannot freeze is
the normalisation itself: lemma_text must be what the running code searches for (its format is
versioned by bot.matching.index.INDEX_VERSION and rebuilt by `tgmon reindex`), so the migration
environment hands it in as ``config.attributes["lemma_text"]`` (bot/storage/migrations/env.py).

Revision ID: 0003_fulltext_index
Revises: 0004_channels_history_id
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import Connection

revision: str = "0003_fulltext_index"
down_revision: str | None = "0004_channels_history_id"
branch_labels = None
depends_on = None

_SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5("
    "lemma_text, content='posts', content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE OF lemma_text ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
    "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS posts_fts_au",
    "DROP TRIGGER IF EXISTS posts_fts_ad",
    "DROP TRIGGER IF EXISTS posts_fts_ai",
    "DROP TABLE IF EXISTS posts_fts",
]
_PG_CREATE = (
    "CREATE INDEX IF NOT EXISTS ix_posts_lemma_fts ON posts USING gin "
    "((to_tsvector('simple', coalesce(lemma_text, ''))))"
)
_PG_DROP = "DROP INDEX IF EXISTS ix_posts_lemma_fts"

_POSTS = sa.table("posts", sa.column("id", sa.Integer), sa.column("text", sa.Text), sa.column("lemma_text", sa.Text))


def _fill_lemma_text(conn: Connection, lemma_text: Callable[[str], str], batch: int = 1000) -> None:
    """lemma_text of every stored post, in batches of ``batch`` posts."""
    last = 0
    update = sa.update(_POSTS).where(_POSTS.c.id == sa.bindparam("pid")).values(lemma_text=sa.bindparam("lemmas"))
    while True:
        query = sa.select(_POSTS.c.id, _POSTS.c.text).where(_POSTS.c.id > last).order_by(_POSTS.c.id).limit(batch)
        rows = conn.execute(query).all()
        if not rows:
            return
        conn.execute(update, [{"pid": r.id, "lemmas": lemma_text(r.text or "")} for r in rows])
        last = rows[-1].id


def upgrade() -> None:
    conn = op.get_bind()
    _fill_lemma_text(conn, context.config.attributes["lemma_text"])
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_CREATE:
            conn.exec_driver_sql(statement)
    else:
        conn.exec_driver_sql(_PG_CREATE)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_DROP:
            conn.exec_driver_sql(statement)
    else:
        conn.exec_driver_sql(_PG_DROP)
