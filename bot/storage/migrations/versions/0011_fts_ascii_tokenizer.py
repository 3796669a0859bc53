"""SQLite: the full-text index re-created with FTS5's `ascii` tokenizer

lemma_text is normalised by tgmon itself, so the `ascii` tokenizer yields the same keys as
`unicode61` did, for about a quarter less work per stored post. The index is rebuilt from
posts.lemma_text (no post is re-analysed). PostgreSQL: nothing changes.

The SQL below is this revision's own frozen copy (it imports nothing from bot.*): upgrade creates
the index as it was at this revision, downgrade as it was before it.

Revision ID: 0011_fts_ascii_tokenizer
Revises: 0010_delivery_workers
"""

from __future__ import annotations

from alembic import op

revision: str = "0011_fts_ascii_tokenizer"
down_revision: str | None = "0010_delivery_workers"
branch_labels = None
depends_on = None

_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_fts USING fts5("
    "lemma_text, content='posts', content_rowid='id', tokenize='{tokenizer}')"
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


def _recreate(tokenizer: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for statement in [*_DROP, _CREATE.format(tokenizer=tokenizer), *_TRIGGERS, _REBUILD]:
            conn.exec_driver_sql(statement)


def upgrade() -> None:
    _recreate("ascii")


def downgrade() -> None:
    _recreate("unicode61 remove_diacritics 0")
