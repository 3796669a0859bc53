"""Archive search at scale: a stored tsvector on PostgreSQL, posts by channel and date

PostgreSQL: ``posts.lemma_tsv``, a generated column holding ``to_tsvector('simple', lemma_text)``,
with its GIN index in place of the expression index of 0003. A query that reads posts newest first
and filters them by the index condition then compares a stored value instead of parsing each post's
lemma text again, and the planner keeps real statistics on the column.
Both databases: ``ix_posts_channel_date`` (channel, date), for a search scoped to a few channels.

Revision ID: 0019_search_at_scale
Revises: 0018_drop_rules_compiled
"""

from __future__ import annotations

from alembic import op

revision: str = "0019_search_at_scale"
down_revision: str | None = "0018_drop_rules_compiled"
branch_labels = None
depends_on = None

_PG_UP = [
    "ALTER TABLE posts ADD COLUMN IF NOT EXISTS lemma_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(lemma_text, ''))) STORED",
    "CREATE INDEX IF NOT EXISTS ix_posts_lemma_tsv ON posts USING gin (lemma_tsv)",
    "DROP INDEX IF EXISTS ix_posts_lemma_fts",
]
_PG_DOWN = [
    "CREATE INDEX IF NOT EXISTS ix_posts_lemma_fts ON posts USING gin "
    "((to_tsvector('simple', coalesce(lemma_text, ''))))",
    "DROP INDEX IF EXISTS ix_posts_lemma_tsv",
    "ALTER TABLE posts DROP COLUMN IF EXISTS lemma_tsv",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UP:
            op.execute(statement)
    op.create_index("ix_posts_channel_date", "posts", ["channel_id", "date"])


def downgrade() -> None:
    op.drop_index("ix_posts_channel_date", table_name="posts")
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWN:
            op.execute(statement)
