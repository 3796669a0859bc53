"""channels.backfill_below: where a first backfill that was cut short goes on

A first backfill reads a channel newest first, page by page, and stores each page as it arrives.
`backfill_below` is the lowest message id read so far: killed on page 3 of 4, the next run asks
Telegram only for what lies below it. NULL when no first backfill is under way.

Revision ID: 0015_channels_backfill_below
Revises: 0014_channel_peers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015_channels_backfill_below"
down_revision: str | None = "0014_channel_peers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("backfill_below", sa.BigInteger(), nullable=True))


def downgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): no copy of the table
    op.drop_column("channels", "backfill_below")
