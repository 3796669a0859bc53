"""subscribers.next_due_at: when the chat's next daily or weekly digest falls due (UTC), indexed

The scheduler selects only the subscribers whose `next_due_at` has come (or is NULL: not known yet)
instead of loading every subscriber on each tick, and sets it after each build. A change to anything
the schedule depends on sets it back to NULL in the database itself, whichever code made the change,
so the next tick works it out again and a stale value can never hide a digest: on the subscriber its
frequency, timezone, time, weekday, pause or activity; a rule added, or a rule's delivery changed
(a rule can have a daily or weekly stream of its own).

Revision ID: 0025_subscribers_next_due_at
Revises: 0024_digest_pages_sound
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0025_subscribers_next_due_at"
down_revision: str | None = "0024_digest_pages_sound"
branch_labels = None
depends_on = None

_COLUMNS = ("frequency", "timezone", "digest_hour", "digest_minute", "digest_weekday", "paused", "active")

_PG = [
    f"""
CREATE FUNCTION subscribers_schedule_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ({", ".join(f"NEW.{c}" for c in _COLUMNS)}) IS DISTINCT FROM ({", ".join(f"OLD.{c}" for c in _COLUMNS)}) THEN
    NEW.next_due_at := NULL;
  END IF;
  RETURN NEW;
END $$
""",
    "CREATE TRIGGER trg_subscribers_schedule_changed BEFORE UPDATE ON subscribers "
    "FOR EACH ROW EXECUTE FUNCTION subscribers_schedule_changed()",
    """
CREATE FUNCTION rules_delivery_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.delivery IS DISTINCT FROM OLD.delivery THEN
    UPDATE subscribers SET next_due_at = NULL WHERE id = NEW.subscriber_id AND next_due_at IS NOT NULL;
  END IF;
  RETURN NULL;
END $$
""",
    "CREATE TRIGGER trg_rules_delivery_changed AFTER INSERT OR UPDATE OF delivery ON rules "
    "FOR EACH ROW EXECUTE FUNCTION rules_delivery_changed()",
]
_SQLITE = [
    f"""
CREATE TRIGGER trg_subscribers_schedule_changed
AFTER UPDATE OF {", ".join(_COLUMNS)} ON subscribers FOR EACH ROW
WHEN NEW.next_due_at IS NOT NULL AND ({" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _COLUMNS)})
BEGIN
  UPDATE subscribers SET next_due_at = NULL WHERE id = NEW.id;
END
""",
    """
CREATE TRIGGER trg_rules_added AFTER INSERT ON rules FOR EACH ROW
BEGIN
  UPDATE subscribers SET next_due_at = NULL WHERE id = NEW.subscriber_id AND next_due_at IS NOT NULL;
END
""",
    """
CREATE TRIGGER trg_rules_delivery_changed AFTER UPDATE OF delivery ON rules FOR EACH ROW
WHEN OLD.delivery IS NOT NEW.delivery
BEGIN
  UPDATE subscribers SET next_due_at = NULL WHERE id = NEW.subscriber_id AND next_due_at IS NOT NULL;
END
""",
]


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_subscribers_next_due_at", "subscribers", ["next_due_at"])
    for statement in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_rules_delivery_changed ON rules")
        op.execute("DROP FUNCTION IF EXISTS rules_delivery_changed()")
        op.execute("DROP TRIGGER IF EXISTS trg_subscribers_schedule_changed ON subscribers")
        op.execute("DROP FUNCTION IF EXISTS subscribers_schedule_changed()")
    else:
        for name in ("trg_rules_delivery_changed", "trg_rules_added", "trg_subscribers_schedule_changed"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_subscribers_next_due_at", "subscribers")
    op.drop_column("subscribers", "next_due_at")
