"""posts.phrase_pairs (SQLite): what a post's adjacent words are, for phrases, in the FTS5 index

SQLite's index said which posts hold a phrase's words, not whether they stand in a row: a phrase of
two words each common had thousands of candidates in a million posts, each read and analysed by
the matcher (a phrase's first search: about 0.5 s at p95). FTS5 keeps positions, but cannot put a
word's several keys (its form and each lemma) at one position without a tokenizer written in C.
``phrase_pairs`` (written by the search indexer and `tgmon reindex` with ``lemma_text``,
bot/matching/index.py `phrase_pairs`) holds a token for each two keys of adjacent words, and
``posts_fts`` gets it as a second column: a phrase is asked of the index as its pairs. A post
whose pairs are unknown (NULL: every post stored before this revision, until `tgmon reindex`; a
post too long to place every word) lacks the PAIRS_KNOWN token and stays a candidate, as before;
the partial index ``ix_posts_unpaired`` lists the posts with keys and no pairs, so a search asks
the index for those only while there are any (after `tgmon reindex`, none).
The index's trigger on updates keeps the pairs with the text they were made from: a change of
``posts.text`` that does not write new pairs sets them NULL. PostgreSQL is unchanged (its
``phrase_tsv`` does the same by position: 0030).

The SQL below is this revision's own frozen copy (it imports nothing from bot.*): upgrade creates
the index as it is at this revision, downgrade as it was before it (0012's form). Either rebuilds
the index from the posts: about 35 s a million posts.

Revision ID: 0032_sqlite_phrase_pairs
Revises: 0031_phrase_positions_inline
"""

from __future__ import annotations

from alembic import op

revision: str = "0032_sqlite_phrase_pairs"
down_revision: str | None = "0031_phrase_positions_inline"
branch_labels = None
depends_on = None

_DROP = [
    "DROP TRIGGER IF EXISTS posts_fts_au",
    "DROP TRIGGER IF EXISTS posts_fts_ad",
    "DROP TRIGGER IF EXISTS posts_fts_ai",
    "DROP TABLE IF EXISTS posts_fts",
]
_REBUILD = "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')"
_STALE = "new.text IS NOT old.text AND new.phrase_pairs IS old.phrase_pairs"
_UP = [
    "ALTER TABLE posts ADD COLUMN phrase_pairs TEXT",
    "CREATE INDEX IF NOT EXISTS ix_posts_unpaired ON posts (id) WHERE phrase_pairs IS NULL AND lemma_text <> ''",
    *_DROP,
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5(lemma_text, phrase_pairs, content='posts', "
    "content_rowid='id', detail=none, columnsize=0, tokenize='ascii')",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, lemma_text, phrase_pairs) VALUES (new.id, new.lemma_text, new.phrase_pairs); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text, phrase_pairs) "
    "VALUES ('delete', old.id, old.lemma_text, old.phrase_pairs); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE OF text, lemma_text, phrase_pairs ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text, phrase_pairs) "
    "VALUES ('delete', old.id, old.lemma_text, old.phrase_pairs); "
    f"UPDATE posts SET phrase_pairs = NULL WHERE id = new.id AND new.phrase_pairs IS NOT NULL AND {_STALE}; "
    "INSERT INTO posts_fts(rowid, lemma_text, phrase_pairs) "
    f"VALUES (new.id, new.lemma_text, CASE WHEN {_STALE} THEN NULL ELSE new.phrase_pairs END); END",
    _REBUILD,
]
_DOWN = [
    *_DROP,
    "DROP INDEX IF EXISTS ix_posts_unpaired",
    "ALTER TABLE posts DROP COLUMN phrase_pairs",
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5(lemma_text, content='posts', content_rowid='id', "
    "detail=none, columnsize=0, tokenize='ascii')",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ai AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_ad AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); END",
    "CREATE TRIGGER IF NOT EXISTS posts_fts_au AFTER UPDATE OF lemma_text ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, lemma_text) VALUES ('delete', old.id, old.lemma_text); "
    "INSERT INTO posts_fts(rowid, lemma_text) VALUES (new.id, new.lemma_text); END",
    _REBUILD,
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _DOWN:
            op.execute(statement)
