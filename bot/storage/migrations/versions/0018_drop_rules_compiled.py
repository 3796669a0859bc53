"""rules.compiled: dropped; nothing ever wrote it

A rule is kept as its source text; every process that matches parses it (memoised) and compiles
all rules together in memory, so a stored compiled form was never read or written.

Revision ID: 0018_drop_rules_compiled
Revises: 0017_matches_past
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0018_drop_rules_compiled"
down_revision: str | None = "0017_matches_past"
branch_labels = None
depends_on = None


def upgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): the column has no index
    op.drop_column("rules", "compiled")


def downgrade() -> None:
    op.add_column("rules", sa.Column("compiled", sa.JSON(), nullable=True))
