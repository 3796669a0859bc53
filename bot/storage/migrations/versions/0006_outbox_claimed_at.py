"""outbox.claimed_at: when a worker took a row, so a row left 'sending' by a crash is found

Revision ID: 0006_outbox_claimed_at
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_outbox_claimed_at"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_outbox_chat_id", ["chat_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_chat_id")
        batch.drop_column("claimed_at")
