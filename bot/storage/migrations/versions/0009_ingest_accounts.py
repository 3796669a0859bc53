"""ingest_accounts (name, cap, heartbeat_at) and an index on channels.account

Each ingest process heartbeats its monitoring account here and claims channels into
`channels.account` (bot/ingest/accounts.py); a channel of an account whose heartbeat is stale is
taken over by a live one. Channels joined before there were accounts belong to `main`, the
account that joined them. `posts` is not touched (a batch rebuild on SQLite would drop its FTS
triggers).

Revision ID: 0009_ingest_accounts
Revises: 0008_outbox_chat_active_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_ingest_accounts"
down_revision: str | None = "0008_outbox_chat_active_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_accounts",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ingest_accounts"),
    )
    op.create_index("ix_channels_account", "channels", ["account"])
    # before accounts, the one monitoring account (now named main) joined these: keep them with it
    channels = sa.table("channels", sa.column("joined", sa.Boolean), sa.column("account", sa.String))
    op.execute(channels.update().where(channels.c.joined == sa.true(), channels.c.account.is_(None))
               .values(account="main"))


def downgrade() -> None:
    op.drop_index("ix_channels_account", table_name="channels")
    op.drop_table("ingest_accounts")
