"""The full-text index over ``posts.lemma_text``: SQLite FTS5 or PostgreSQL GIN.

SQLite: an external-content FTS5 table (``posts_fts``, rowid = posts.id) kept in sync by triggers,
so every writer of ``posts`` keeps the index right without knowing of it. It keeps no positions
and no per-row sizes (``detail=none, columnsize=0``): search asks only which posts hold which keys,
never phrases, NEAR or ranking (the matcher confirms every candidate). This is the index's
current form; each migration that created an earlier form keeps its own frozen copy of the SQL it
ran (bot/storage/migrations/versions/0003, 0011, 0012). A later migration that
rebuilds ``posts`` with ``batch_alter_table`` drops those triggers: call `ensure_index` again (the
``tgmon reindex`` command does). PostgreSQL: a GIN index over the stored column ``lemma_tsv``
(``to_tsvector('simple', coalesce(lemma_text, ''))``, generated; migration 0019), and beside it
``phrase_tsv``, the same keys at their words' positions, written with ``lemma_text`` (migration 0030).
"""

from __future__ import annotations

from sqlalchemy import Connection

PG_VECTOR = "posts.lemma_tsv"
# the keys by their words' positions, for phrases (no index of its own: a filter on the rows the GIN
# index over PG_VECTOR finds; migration 0030, bot/matching/index.py `phrase_vector`)
PG_PHRASES = "posts.phrase_tsv"

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
_PG = "CREATE INDEX IF NOT EXISTS ix_posts_lemma_tsv ON posts USING gin (lemma_tsv)"


def ensure_index(conn: Connection, *, rebuild: bool = False) -> None:
    """Create the index if it is missing (idempotent); ``rebuild`` re-reads every post (SQLite)."""
    if conn.dialect.name == "sqlite":
        existed = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'posts_fts'"
        ).first() is not None
        create = _CREATE.format(tokenizer=TOKENIZER, options=f"{OPTIONS}, ")
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
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_posts_lemma_tsv")
