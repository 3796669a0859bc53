"""outbox: indexes for claiming from a large backlog, instant alerts first

A daily tick can queue 100,000 digests at once; an instant alert queued after them is claimed first
(bot/delivery/outbox.py `claim_heads`): ix_outbox_alerts_due finds the pending alerts, oldest first,
without reading the digest backlog. ix_outbox_pending_due gives the other pending rows in the
claim's order (not_before, id), so a claim reads a few rows of the backlog instead of sorting all of
it (PostgreSQL, 100,000 pending rows: 1.1 s a claim before, 0.2 ms after).

Revision ID: 0028_outbox_alerts_first
Revises: 0027_matches_post_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0028_outbox_alerts_first"
down_revision: str | None = "0027_matches_post_key"
branch_labels = None
depends_on = None

ALERTS = "state = 'pending' AND kind = 'alert'"
PENDING = "state = 'pending'"


def upgrade() -> None:
    op.create_index("ix_outbox_alerts_due", "outbox", ["not_before", "id"],
                    sqlite_where=sa.text(ALERTS), postgresql_where=sa.text(ALERTS))
    op.create_index("ix_outbox_pending_due", "outbox", ["not_before", "id"],
                    sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_due", table_name="outbox")
    op.drop_index("ix_outbox_alerts_due", table_name="outbox")
