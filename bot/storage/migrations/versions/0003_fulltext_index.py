"""full-text index over posts.lemma_text: SQLite FTS5 (external content + triggers), PostgreSQL GIN

Fills lemma_text for the posts already stored (with the current normalisation).

Revision ID: 0003_fulltext_index
Revises: 0004_channels_history_id
"""

from __future__ import annotations

from alembic import op

revision: str = "0003_fulltext_index"
down_revision: str | None = "0004_channels_history_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from bot.matching.fts import ensure_index, fill_lemma_text
    from bot.matching.index import index_text

    conn = op.get_bind()
    fill_lemma_text(conn, index_text, only_missing=False)
    ensure_index(conn, rebuild=True, tokenizer="unicode61 remove_diacritics 0", options="")  # as it was then


def downgrade() -> None:
    from bot.matching.fts import drop_index

    drop_index(op.get_bind())
