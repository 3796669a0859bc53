"""posts (channel_id, grouped_id): find the row an album already has when more of its items arrive

Revision ID: 0007_posts_album_index
Revises: 0003_fulltext_index
"""

from __future__ import annotations

from alembic import op

revision: str = "0007_posts_album_index"
down_revision: str | None = "0003_fulltext_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_posts_channel_grouped", "posts", ["channel_id", "grouped_id"])


def downgrade() -> None:
    op.drop_index("ix_posts_channel_grouped", table_name="posts")
