"""The delivery worker's claim over a large digest backlog on PostgreSQL, on statistics taken while
the outbox was empty (as after a daily tick queues tens of thousands of rows before autovacuum runs).

    python -m benchmarks.outbox_claim [--rows 50000] [--chats 10000] [--limit 40] [--repeat 3] [--pg URL]

A fresh database is migrated, the empty outbox is analysed and its autovacuum turned off (the
statistics stay those of the empty table), then ``--rows`` pending digest rows are queued for
``--chats`` chats (a chat's rows together, chunk after chunk, all due now). Each claim statement
(`bot.storage.outbox.due_query`: the alerts, then the other rows) runs under EXPLAIN (ANALYZE,
BUFFERS) in a transaction rolled back; the execution time is the median of ``--repeat``; both
forms must return the same number of rows. "before" is
the statement as it was up to 7cea027 (the head-of-chat test NOT EXISTS an earlier active row, an
anti-join), planned as it was (sorting allowed); "now" is the statement the worker runs, planned as
the worker plans it (`bot.storage.outbox.claim_order`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, insert, literal_column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from benchmarks import pg
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.outbox import claim_order, due_query

BENCH_DB = os.environ.get("TGMON_BENCH_DB", "tgmon_bench_outbox_claim")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _before(alerts: bool, limit: int) -> Any:
    """The claim statement with the head test of 7cea027: NOT EXISTS an earlier active row."""
    earlier = aliased(m.Outbox)
    head = ~exists().where(
        earlier.chat_id == m.Outbox.chat_id, earlier.id < m.Outbox.id,
        earlier.state.in_([literal_column("'pending'"), literal_column("'sending'")]),
        func.coalesce(earlier.target_id, 0) == func.coalesce(m.Outbox.target_id, 0))
    alert: ColumnElement[str] = literal_column("'alert'")
    return (select(m.Outbox)
            .where(m.Outbox.state == literal_column("'pending'"),
                   m.Outbox.kind == alert if alerts else m.Outbox.kind != alert, m.Outbox.not_before <= NOW, head)
            .order_by(m.Outbox.not_before, m.Outbox.id).limit(limit)
            .with_for_update(skip_locked=True, of=m.Outbox))


def sql_of(statement: Any) -> str:
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def seed(db: Database, rows: int, chats: int) -> None:
    """Empty-table statistics, autovacuum off, then ``rows`` pending digest rows over ``chats`` chats."""
    per_chat = max(1, rows // chats)
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE outbox"))
        await conn.execute(text("ALTER TABLE outbox SET (autovacuum_enabled = false)"))
        await conn.execute(insert(m.Subscriber), [{"chat_id": c, "created_at": NOW} for c in range(1, chats + 1)])
        subs = (await conn.execute(select(m.Subscriber.id, m.Subscriber.chat_id).order_by(m.Subscriber.id))).all()
        await conn.execute(insert(m.Outbox), [
            {"subscriber_id": sub, "chat_id": chat, "kind": "digest", "chunk_no": n, "chunk_total": per_chat,
             "text": f"part {n}", "random_id": sub * 100 + n, "state": "pending", "attempts": 0,
             "not_before": NOW - timedelta(minutes=1), "created_at": NOW, "silent": n > 1}
            for sub, chat in subs for n in range(1, per_chat + 1)])


async def explain(db: Database, statement: Any, *, now: bool) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of ``statement`` in a transaction rolled back, planned as the worker
    plans it now (`claim_order`) or as before: the plan's JSON."""
    async with db.sessions() as session:
        async with claim_order(session) if now else contextlib.nullcontext():
            found = (await session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql_of(statement)}"))
                     ).scalar_one()
        await session.rollback()
    plan = json.loads(found) if isinstance(found, str) else found
    return dict(plan[0])


def _nodes(node: dict[str, Any]) -> list[str]:
    name = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
    return [name] + [n for child in node.get("Plans", []) for n in _nodes(child)]


async def run(args: argparse.Namespace) -> None:
    db = Database.from_url(await pg.fresh(args.pg, BENCH_DB))
    try:
        await db.upgrade()
        await seed(db, args.rows, args.chats)
        print(f"{args.rows} pending digest rows for {args.chats} chats, outbox analysed while empty; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        returned: dict[tuple[str, bool], object] = {}
        for label, build in (("before", _before), ("now", lambda alerts, limit: due_query(
                "postgresql", NOW, alerts=alerts, limit=limit))):
            for alerts in (True, False):
                times, plan = [], {}
                for _ in range(args.repeat):
                    plan = await explain(db, build(alerts, args.limit), now=label == "now")
                    times.append(float(plan["Execution Time"]))
                returned[label, alerts] = plan["Plan"].get("Actual Rows")
                print(f"{label:6} {'alerts' if alerts else 'others':6}: {statistics.median(times):10.2f} ms median "
                      f"of {args.repeat} ({', '.join(f'{t:.2f}' for t in times)}); "
                      f"{plan['Plan'].get('Actual Rows')} rows; plan: {' > '.join(_nodes(plan['Plan']))}")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for alerts in (True, False):
            if returned["before", alerts] != returned["now", alerts]:
                raise SystemExit(f"outbox_claim: the claim returned {returned['now', alerts]} rows, "
                                 f"before {returned['before', alerts]}")
    finally:
        await db.dispose()
        await pg.drop(args.pg, BENCH_DB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outbox_claim", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=40, help="rows a claim asks for (a worker: 30 + its slack)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("TGMON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args(argv)
    if min(args.rows, args.chats, args.limit, args.repeat) < 1:
        print("outbox_claim: --rows, --chats, --limit and --repeat must be at least 1", file=sys.stderr)
        return 2
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
