"""outbox.buttons: inline buttons sent with a message (a digest's "More" button)

A JSON list of rows, each a list of {"text", "data"}: the callback buttons Telegram shows under the
message. NULL for a message without buttons.

Revision ID: 0026_outbox_buttons
Revises: 0025_subscribers_next_due_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0026_outbox_buttons"
down_revision: str | None = "0025_subscribers_next_due_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("buttons", sa.JSON(), nullable=True))


def downgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+)
    op.drop_column("outbox", "buttons")
