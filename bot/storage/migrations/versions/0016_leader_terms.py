"""leader_terms (name, generation, holder, started_at): the fencing token of scheduler leadership

Each process that becomes the scheduler's leader increments `generation` and keeps the number; every
write the leader makes checks, in its own transaction, that the number is still the current one
(`SELECT ... FOR SHARE`). A leader that lost its lock without knowing it (frozen, cut off) can then
write nothing once a new leader has begun its term.

Revision ID: 0016_leader_terms
Revises: 0015_channels_backfill_below
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016_leader_terms"
down_revision: str | None = "0015_channels_backfill_below"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_terms",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leader_terms"),
    )


def downgrade() -> None:
    op.drop_table("leader_terms")
