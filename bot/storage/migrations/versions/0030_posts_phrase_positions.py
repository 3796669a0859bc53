"""posts.phrase_tsv (PostgreSQL): a post's index keys at the positions of their words

The full-text index (``lemma_tsv``) says which posts hold a phrase's words, not whether they stand
in a row: a phrase of two common words had some 15,000 candidates in a million posts for about 230
matches, each read and analysed by the matcher. ``phrase_tsv`` (written by the search indexer
and `tgmon reindex` with ``lemma_text``, bot/matching/index.py `phrase_vector`) lets a search
keep only the posts where the words are adjacent (``<->``), checked by the database on the rows the
membership index finds. It has no index of its own. NULL (every post stored before this revision,
until `tgmon reindex`; a post too long to place every word) means "positions unknown": such a post
stays a candidate, as before. A trigger keeps the positions with the text they were made from:
any change of ``posts.text`` sets them NULL in the same row write (an edit by any writer, this
release's or an older one's, can never leave the old text's positions to rule the new text out).
SQLite is unchanged (its search reads phrases fast enough without).

Revision ID: 0030_posts_phrase_positions
Revises: 0029_matches_rule_matched
"""

from __future__ import annotations

from alembic import op

revision: str = "0030_posts_phrase_positions"
down_revision: str | None = "0029_matches_rule_matched"
branch_labels = None
depends_on = None


_UP = [
    "ALTER TABLE posts ADD COLUMN IF NOT EXISTS phrase_tsv tsvector",
    "CREATE OR REPLACE FUNCTION posts_phrase_tsv_follows_text() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF NEW.text IS DISTINCT FROM OLD.text THEN NEW.phrase_tsv := NULL; END IF; RETURN NEW; END $$",
    "DROP TRIGGER IF EXISTS posts_phrase_tsv_text ON posts",
    "CREATE TRIGGER posts_phrase_tsv_text BEFORE UPDATE OF text ON posts "
    "FOR EACH ROW EXECUTE FUNCTION posts_phrase_tsv_follows_text()",
]
_DOWN = [
    "DROP TRIGGER IF EXISTS posts_phrase_tsv_text ON posts",
    "DROP FUNCTION IF EXISTS posts_phrase_tsv_follows_text()",
    "ALTER TABLE posts DROP COLUMN IF EXISTS phrase_tsv",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _DOWN:
            op.execute(statement)
