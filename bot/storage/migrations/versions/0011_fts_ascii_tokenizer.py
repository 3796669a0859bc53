"""SQLite: the full-text index re-created with FTS5's `ascii` tokenizer

lemma_text is normalised by tgmon itself, so the `ascii` tokenizer yields the same keys as
`unicode61` did, for about a quarter less work per stored post. The index is rebuilt from
posts.lemma_text (no post is re-analysed). PostgreSQL: nothing changes.

Revision ID: 0011_fts_ascii_tokenizer
Revises: 0010_delivery_workers
"""

from __future__ import annotations

from alembic import op

revision: str = "0011_fts_ascii_tokenizer"
down_revision: str | None = "0010_delivery_workers"
branch_labels = None
depends_on = None


def _recreate(tokenizer: str) -> None:
    from bot.matching.fts import drop_index, ensure_index

    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        drop_index(conn)
        ensure_index(conn, rebuild=True, tokenizer=tokenizer, options="")  # as it was then


def upgrade() -> None:
    _recreate("ascii")


def downgrade() -> None:
    _recreate("unicode61 remove_diacritics 0")
