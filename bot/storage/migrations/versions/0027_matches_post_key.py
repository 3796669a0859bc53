"""matches.post_date, matches.post_channel_id: the web timeline reads a rule's matches newest first

The timeline shows a subscriber's matches by the date of their post, newest first, filtered by rule,
channel and period, a page at a time. With the post's date and channel copied into each match, a
rule's page is one range of the index (rule, post date, post id) or (rule, channel, post date, post
id), read backwards for as many rows as the page shows; the subscriber's page is the merge of its
rules' pages. Before, a page walked the posts by date and probed `matches` for each: a thousand
probes for a subscriber whose rules match 2% of the posts, tens of thousands for one rule.

A post's date and channel never change once it is stored, so the copy is made once, as the match
is inserted, by a trigger: every writer of `matches` (the pipeline's bulk insert, `/watch`, tests,
benchmarks) stays right without knowing of the columns. SQLite: an AFTER INSERT trigger that fills
the row just written (SQLite cannot change NEW); PostgreSQL: a BEFORE INSERT row trigger. A later
migration that rebuilds `matches` with `batch_alter_table` drops the SQLite trigger: it must create
it again (`_SQLITE_TRIGGER` below, copied into that migration).

Revision ID: 0027_matches_post_key
Revises: 0026_outbox_buttons
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0027_matches_post_key"
down_revision: str | None = "0026_outbox_buttons"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS matches_post_key AFTER INSERT ON matches "
    "WHEN new.post_date IS NULL OR new.post_channel_id IS NULL BEGIN "
    "UPDATE matches SET post_date = (SELECT date FROM posts WHERE posts.id = new.post_id), "
    "post_channel_id = (SELECT channel_id FROM posts WHERE posts.id = new.post_id) WHERE id = new.id; END"
)
_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION matches_post_key() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.post_date IS NULL OR NEW.post_channel_id IS NULL THEN "
    "SELECT date, channel_id INTO NEW.post_date, NEW.post_channel_id FROM posts WHERE id = NEW.post_id; "
    "END IF; RETURN NEW; END $$"
)
_PG_TRIGGER = (
    "CREATE TRIGGER matches_post_key BEFORE INSERT ON matches FOR EACH ROW EXECUTE FUNCTION matches_post_key()"
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.add_column("matches", sa.Column("post_date", sa.DateTime(timezone=True), nullable=True))
    op.add_column("matches", sa.Column("post_channel_id", sa.BigInteger(), nullable=True))
    if pg:
        op.execute("UPDATE matches SET post_date = posts.date, post_channel_id = posts.channel_id "
                   "FROM posts WHERE posts.id = matches.post_id")
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute("UPDATE matches SET post_date = (SELECT date FROM posts WHERE posts.id = matches.post_id), "
                   "post_channel_id = (SELECT channel_id FROM posts WHERE posts.id = matches.post_id)")
        op.execute(_SQLITE_TRIGGER)
    op.create_index("ix_matches_rule_post_date", "matches", ["rule_id", "post_date", "post_id"])
    op.create_index("ix_matches_rule_channel_date", "matches", ["rule_id", "post_channel_id", "post_date", "post_id"])


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_matches_rule_channel_date", table_name="matches")
    op.drop_index("ix_matches_rule_post_date", table_name="matches")
    if pg:
        op.execute("DROP TRIGGER IF EXISTS matches_post_key ON matches")
        op.execute("DROP FUNCTION IF EXISTS matches_post_key()")
    else:
        op.execute("DROP TRIGGER IF EXISTS matches_post_key")
    op.drop_column("matches", "post_channel_id")  # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+)
    op.drop_column("matches", "post_date")
