"""delivery_workers (name, heartbeat_at)

Each delivery worker heartbeats here; the live ones split `delivery.global_per_second` between
them (bot/delivery/share.py), so several workers together stay within Telegram's global limit.

Revision ID: 0010_delivery_workers
Revises: 0009_ingest_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010_delivery_workers"
down_revision: str | None = "0009_ingest_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_workers",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_delivery_workers"),
    )


def downgrade() -> None:
    op.drop_table("delivery_workers")
