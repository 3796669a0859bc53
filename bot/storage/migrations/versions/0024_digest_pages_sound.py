"""digests.match_ids, subscribers.sound, outbox.silent: /more pages and silent digests

`digests.match_ids` keeps the matches a digest was built from when it showed only its top items,
so `/more` sends the next page of exactly that digest. `subscribers.sound` is which messages ring:
'alerts' (instant alerts with sound, digests silently: the default), 'all' or 'none'. Each outbox row
carries `silent`, Telegram's silent send, decided when it is queued.

Revision ID: 0024_digest_pages_sound
Revises: 0023_post_vectors
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0024_digest_pages_sound"
down_revision: str | None = "0023_post_vectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("digests", sa.Column("match_ids", sa.JSON(), nullable=True))
    op.add_column("subscribers", sa.Column("sound", sa.String(8), nullable=False, server_default="alerts"))
    op.add_column("outbox", sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+)
    op.drop_column("outbox", "silent")
    op.drop_column("subscribers", "sound")
    op.drop_column("digests", "match_ids")
