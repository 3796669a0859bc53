"""The full-text index over ``posts.lemma_text``: SQLite FTS5 or PostgreSQL GIN.

SQLite: an external-content FTS5 table (``posts_fts``, rowid = posts.id) kept in sync by triggers,
so every writer of ``posts`` keeps the index right without knowing of it. It keeps no positions
and no per-row sizes (``detail=none, columnsize=0``): search asks only which posts hold which
tokens, never NEAR or ranking (the matcher confirms every candidate). Two columns: the post's
keys (``lemma_text``) and its ``phrase_pairs`` (migration 0032, bot/matching/index.py
`phrase_pairs`): a token for each two keys of adjacent words, so a phrase's words in a row are
asked of the index as pairs (FTS5 cannot place two keys at one position, which a word with
several lemmas would need). A change of ``posts.text`` sets the pairs NULL ("unknown") in the
trigger that updates the index, whoever the writer. This is the index's current form; each
migration that created an earlier form keeps its own frozen copy of the SQL it ran
(bot/storage/migrations/versions/0003, 0011, 0012, 0032). A later migration that rebuilds
``posts`` with ``batch_alter_table`` drops those triggers: call `ensure_index` again (the ``tgmon
reindex`` command does). PostgreSQL: a GIN index over the stored column ``lemma_tsv``
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
    "lemma_text, phrase_pairs, content='posts', content_rowid='id', {options}tokenize='{tokenizer}')"
)
# Pairs made from a text stay only with that text: an UPDATE that changes ``text`` but writes the
# same pairs (an edit, whose post waits for the indexer; a writer that knows no pairs) sets them
# NULL, in the same trigger that takes the old row out of the index and puts the new one in (one
# trigger: two would fire in an order SQLite does not promise, and the index must be told the
# exact values it holds). The inner UPDATE does not fire this trigger again (recursive_triggers
# is off, SQLite's default, which tgmon never changes).
_STALE_PAIRS = "new.text IS NOT old.text AND new.phrase_pairs IS old.phrase_pairs"
_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, lemma_text, phrase_pairs) VALUES (new.id, new.lemma_text, new.phrase_pairs); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text, phrase_pairs) "
    "VALUES ('delete', old.id, old.lemma_text, old.phrase_pairs); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE OF text, lemma_text, phrase_pairs ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text, phrase_pairs) "
    "VALUES ('delete', old.id, old.lemma_text, old.phrase_pairs); "
    f"UPDATE posts SET phrase_pairs = NULL WHERE id = new.id AND new.phrase_pairs IS NOT NULL AND {_STALE_PAIRS}; "
    "INSERT INTO posts_fts(rowid, lemma_text, phrase_pairs) "
    f"VALUES (new.id, new.lemma_text, CASE WHEN {_STALE_PAIRS} THEN NULL ELSE new.phrase_pairs END); END",
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
