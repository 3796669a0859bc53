"""rules.delivery and rules.delivered_until: each rule's own delivery and its own watermark

`delivery` is '' (the chat's frequency), 'instant', 'daily', 'weekly' or 'muted'. A rule's matches
found after `delivered_until` have not been sent yet; the digest that sends them moves it, so a rule
that changes its delivery between two ticks takes its unsent matches to its new stream: none sent
twice, none lost. Existing rules start from their chat's watermark (`subscribers.last_digest_at`),
which until now was the only one.

Revision ID: 0021_rules_delivery
Revises: 0020_web_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021_rules_delivery"
down_revision: str | None = "0020_web_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rules", sa.Column("delivery", sa.String(16), nullable=False, server_default=""))
    op.add_column("rules", sa.Column("delivered_until", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE rules SET delivered_until = "
        "(SELECT subscribers.last_digest_at FROM subscribers WHERE subscribers.id = rules.subscriber_id)"
    )


def downgrade() -> None:  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+)
    op.drop_column("rules", "delivered_until")
    op.drop_column("rules", "delivery")
