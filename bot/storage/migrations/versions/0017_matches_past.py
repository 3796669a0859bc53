"""matches.past: a new rule's match on a post stored before the rule existed

`/watch` records what the new rule finds among the stored posts of the last days, so `/digest week`,
its chart and `/export` show the posts the `/watch` reply counted. Those matches are marked `past`:
scheduled digests and instant alerts send only what is found once the rule exists.

Revision ID: 0017_matches_past
Revises: 0016_leader_terms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017_matches_past"
down_revision: str | None = "0016_leader_terms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("matches", sa.Column("past", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+)
    op.drop_column("matches", "past")
