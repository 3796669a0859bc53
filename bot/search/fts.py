"""The full-text index over ``posts.lemma_text``: SQLite FTS5 or PostgreSQL GIN.

SQLite: an external-content FTS5 table (``posts_fts``, rowid = posts.id) kept in sync by triggers,
so every writer of ``posts`` keeps the index right without knowing of it. It keeps no positions
and no per-row sizes (``detail=none, columnsize=0``): search asks only which posts hold which keys,
never phrases, NEAR or ranking (the matcher confirms every candidate). A later migration that
rebuilds ``posts`` with ``batch_alter_table`` drops those triggers: call `ensure_index` again (the
``tgmon reindex`` command does). PostgreSQL: a GIN expression index over
``to_tsvector('simple', coalesce(lemma_text, ''))``; queries must use that exact expression.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Connection

PG_VECTOR = "to_tsvector('simple', coalesce(posts.lemma_text, ''))"

# lemma_text is already normalised by us (lower case, keys of letters and digits, one space apart),
# so FTS5's `ascii` tokenizer, which only splits at ASCII non-alphanumerics and leaves other characters
# alone, yields exactly our keys, and indexes a post about a quarter cheaper than `unicode61`.
TOKENIZER = "ascii"
# membership only: no positions, no column sizes (less to write for every stored post)
OPTIONS = "detail=none, columnsize=0"
_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5("
    "lemma_text, content='posts', content_rowid='id', {options}tokenize='{tokenizer}')"
)
_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE OF lemma_text ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS posts_fts_au",
    "DROP TRIGGER IF EXISTS posts_fts_ad",
    "DROP TRIGGER IF EXISTS posts_fts_ai",
    "DROP TABLE IF EXISTS posts_fts",
]
_PG = f"CREATE INDEX IF NOT EXISTS ix_posts_lemma_fts ON posts USING gin (({PG_VECTOR.replace('posts.', '')}))"


def ensure_index(
    conn: Connection, *, rebuild: bool = False, tokenizer: str = TOKENIZER, options: str = OPTIONS
) -> None:
    """Create the index if it is missing (idempotent); ``rebuild`` re-reads every post (SQLite).
    ``tokenizer`` and ``options`` are for migrations that re-create an earlier form of the index."""
    if conn.dialect.name == "sqlite":
        existed = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'posts_fts'"
        ).first() is not None
        create = _CREATE.format(tokenizer=tokenizer, options=f"{options}, " if options else "")
        for statement in [create, *_SQLITE]:
            conn.exec_driver_sql(statement)
        if rebuild or not existed:
            conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')")
    else:
        conn.exec_driver_sql(_PG)


def drop_index(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_DROP:
            conn.exec_driver_sql(statement)
    else:
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_posts_lemma_fts")


_POSTS = sa.table("posts", sa.column("id", sa.Integer), sa.column("text", sa.Text), sa.column("lemma_text", sa.Text))


def fill_lemma_text(
    conn: Connection, index_text: Callable[[str], str], *, only_missing: bool, batch: int = 1000
) -> int:
    """Compute lemma_text for posts (all, or those without one), in batches. Returns rows updated."""
    last, done = 0, 0
    update = (
        sa.update(_POSTS).where(_POSTS.c.id == sa.bindparam("pid")).values(lemma_text=sa.bindparam("lemmas"))
    )
    while True:
        query = sa.select(_POSTS.c.id, _POSTS.c.text).where(_POSTS.c.id > last).order_by(_POSTS.c.id).limit(batch)
        if only_missing:
            query = query.where(_POSTS.c.lemma_text.is_(None))
        rows = conn.execute(query).all()
        if not rows:
            return done
        conn.execute(update, [{"pid": r.id, "lemmas": index_text(r.text or "")} for r in rows])
        done += len(rows)
        last = rows[-1].id
