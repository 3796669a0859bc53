"""notify_targets, and outbox rows that carry a destination (a notification target or the chat)

A subscriber's alerts and digests may also (or only) go to another service through apprise
(bot/notify). Each target is a row of `notify_targets`; an outbox row with `target_id` set goes to
that target instead of the Telegram chat. The unique key of a digest's chunks becomes
(digest, destination, chunk): `coalesce(target_id, 0)` names the chat.

Revision ID: 0022_notify_targets
Revises: 0021_rules_delivery
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0022_notify_targets"
down_revision: str | None = "0021_rules_delivery"
branch_labels = None
depends_on = None

_ACTIVE = "state IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_table(
        "notify_targets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("masked", sa.String(160), nullable=False),
        sa.Column("body_format", sa.String(16), nullable=False),
        sa.Column("body_limit", sa.Integer(), nullable=False),
        sa.Column("keyed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name="fk_notify_targets_subscriber_id_subscribers", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name="fk_notify_targets_rule_id_rules", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_notify_targets"),
    )
    op.create_index("ix_notify_targets_subscriber_id", "notify_targets", ["subscriber_id"])
    # SQLite rebuilds the table to drop a constraint: the partial index goes first and comes back after
    op.drop_index("ix_outbox_chat_active", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("target_id", sa.BigInteger(), nullable=True))
        batch.drop_constraint("uq_outbox_digest_chunk", type_="unique")
    op.create_index("uq_outbox_digest_dest_chunk", "outbox",
                    ["digest_id", sa.text("coalesce(target_id, 0)"), "chunk_no"], unique=True)
    op.create_index("ix_outbox_chat_active", "outbox", ["chat_id", "id"],
                    sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE target_id IS NOT NULL")
    op.drop_index("uq_outbox_digest_dest_chunk", table_name="outbox")
    op.drop_index("ix_outbox_chat_active", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("target_id")
        batch.create_unique_constraint("uq_outbox_digest_chunk", ["digest_id", "chunk_no"])
    op.create_index("ix_outbox_chat_active", "outbox", ["chat_id", "id"],
                    sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))
    op.drop_index("ix_notify_targets_subscriber_id", table_name="notify_targets")
    op.drop_table("notify_targets")
