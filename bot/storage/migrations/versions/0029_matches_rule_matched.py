"""matches: an index on (rule_id, matched_at) for a digest's unsent matches

A digest sends each of its rules' matches found after the rule's watermark (`rules.delivered_until`):
one range of this index per rule, however long the rule's history. The scheduler reads them rule by
rule for a batch of subscribers (bot/storage/digests.py `unsent_matches`); without the index each
rule's every match was read, and PostgreSQL planned a batch's 4,000 rules as a scan of the whole
table (a daily tick of 50,000 subscribers: 2.5 million matches read for every batch of 200).

Revision ID: 0029_matches_rule_matched
Revises: 0028_outbox_alerts_first
"""

from __future__ import annotations

from alembic import op

revision: str = "0029_matches_rule_matched"
down_revision: str | None = "0028_outbox_alerts_first"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_matches_rule_matched", "matches", ["rule_id", "matched_at"])


def downgrade() -> None:
    op.drop_index("ix_matches_rule_matched", table_name="matches")
