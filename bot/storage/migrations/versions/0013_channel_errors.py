"""channels.error, channels.error_since: a channel that cannot be read, why, and since when

A failure of one channel (lookup, join, history) is that channel's alone: the ingest service
retries it with backoff while every other channel goes on, and records here the reason and the
moment the failures began, so `tgmon stats`, `tgmon channels list` and the admins see it. Both
are cleared by the next successful read.

Revision ID: 0013_channel_errors
Revises: 0012_deferred_search_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013_channel_errors"
down_revision: str | None = "0012_deferred_search_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("error", sa.String(512), nullable=True))
    op.add_column("channels", sa.Column("error_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): no copy of the table
    op.drop_column("channels", "error_since")
    op.drop_column("channels", "error")
