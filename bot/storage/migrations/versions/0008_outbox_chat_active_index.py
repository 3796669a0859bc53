"""outbox (chat_id, id) WHERE state IN ('pending', 'sending'): the delivery worker's head-of-chat test

A partial index (SQLite and PostgreSQL both have them): it holds only the active rows, so "is
there an earlier active row of this chat" stays a short index probe however many sent rows the
outbox keeps.

Revision ID: 0008_outbox_chat_active_index
Revises: 0007_posts_album_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_outbox_chat_active_index"
down_revision: str | None = "0007_posts_album_index"
branch_labels = None
depends_on = None

ACTIVE = sa.text("state IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index("ix_outbox_chat_active", "outbox", ["chat_id", "id"],
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_outbox_chat_active", table_name="outbox")
