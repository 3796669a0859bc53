"""posts.phrase_tsv kept in the post's row (PostgreSQL: storage MAIN)

A phrase search lists a window's candidates through the full-text index, which reads each
candidate's row (its date), then checks the positions of the rows it keeps reading. Stored the
default way, a post's positions (about 1.2 kB compressed) went to the TOAST table, so the check
cost two more page reads a candidate (the TOAST index and the chunk), not yet cached the first time
a phrase is searched. MAIN keeps them compressed in the row, out of line only for a row that would
not fit a page: the check reads the page the listing has just read. A catalog change only: rows
keep the form they were written in until they are written again (`tgmon reindex` rewrites every
post's positions).

Revision ID: 0031_phrase_positions_inline
Revises: 0030_posts_phrase_positions
"""

from __future__ import annotations

from alembic import op

revision: str = "0031_phrase_positions_inline"
down_revision: str | None = "0030_posts_phrase_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE posts ALTER COLUMN phrase_tsv SET STORAGE MAIN")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE posts ALTER COLUMN phrase_tsv SET STORAGE EXTENDED")
