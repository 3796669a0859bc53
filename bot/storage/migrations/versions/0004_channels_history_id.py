"""channels.history_id: the id up to which the history was read page by page (gap fill resumes here)

Live updates advance last_message_id but may skip posts; only a contiguous read of the history
advances history_id, so a gap behind a live post is still found.

Revision ID: 0004_channels_history_id
Revises: 0006_outbox_claimed_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_channels_history_id"
down_revision: str | None = "0006_outbox_claimed_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("history_id", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("history_id")
