"""channel_peers (account, channel_id, access_hash): how each monitoring account addresses a channel

Telegram addresses a channel by its id and an access hash that is particular to the account.
Kept here, a restart builds the input peer from it instead of resolving every channel again by
username (`contacts.resolveUsername` is limited strictly: a few hundred a day earn long FloodWaits).

Revision ID: 0014_channel_peers
Revises: 0013_channel_errors
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014_channel_peers"
down_revision: str | None = "0013_channel_errors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_peers",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("access_hash", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "telegram_id", name="pk_channel_peers"),
    )


def downgrade() -> None:
    op.drop_table("channel_peers")
