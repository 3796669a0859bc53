"""The monitoring accounts aggregate: heartbeats in `ingest_accounts` and which account holds which
channel (`channels.account`). The balancing rules are `bot/ingest/accounts.py`'s; these are its
queries. Functions over one session; they never commit (`Database.uow()` does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.storage import models as m

ASSIGN_LOCK_KEY = 0x7467_6D6F_6E5F_6163  # pg advisory lock "tgmon_ac": one balancing pass at a time
ACTIVE = domain.ChannelStatus.ACTIVE.value


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def lock_assignments(session: AsyncSession) -> None:
    """Balancing passes of several processes run one after the other: on PostgreSQL a
    transaction-level advisory lock; SQLite's write transaction (BEGIN IMMEDIATE) already is one."""
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ASSIGN_LOCK_KEY})


async def beat(session: AsyncSession, account: str, cap: int, now: datetime) -> None:
    """The account is alive, with this cap."""
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    stmt = insert(m.IngestAccount).values(name=account, cap=cap, heartbeat_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=[m.IngestAccount.name],
                                                     set_={"cap": cap, "heartbeat_at": now}))


async def live_caps(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Account name -> cap, of the accounts with a heartbeat at or after ``since``."""
    rows = await session.execute(select(m.IngestAccount.name, m.IngestAccount.cap)
                                 .where(m.IngestAccount.heartbeat_at >= since))
    return {name: cap for name, cap in rows}


async def assignable(session: AsyncSession, account: str) -> list[tuple[int, str | None, bool, bool]]:
    """Every active channel with an id: (row id, its account, joined, whether ``account`` can
    address it: a public username, or an access hash it keeps), oldest first."""
    known = exists().where(m.ChannelPeer.account == account, m.ChannelPeer.telegram_id == m.Channel.telegram_id)
    rows = await session.execute(
        select(m.Channel.id, m.Channel.account, m.Channel.joined, or_(m.Channel.username.is_not(None), known))
        .where(m.Channel.status == ACTIVE, m.Channel.telegram_id.is_not(None)).order_by(m.Channel.id))
    return [(row_id, owner, bool(joined), bool(reachable)) for row_id, owner, joined, reachable in rows]


async def release(session: AsyncSession, account: str, row_ids: Sequence[int]) -> int:
    """``account`` lets go of these channels (those still its own); how many."""
    result = await session.execute(update(m.Channel)
                                   .where(m.Channel.id.in_(list(row_ids)), m.Channel.account == account)
                                   .values(account=None, joined=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def claim(session: AsyncSession, account: str, row_ids: Sequence[int], live: Sequence[str]) -> int:
    """``account`` takes these channels, those that are still free or held by an account not in
    ``live``; it has not joined them yet. How many."""
    result = await session.execute(
        update(m.Channel)
        .where(m.Channel.id.in_(list(row_ids)), or_(m.Channel.account.is_(None), m.Channel.account.not_in(list(live))))
        .values(account=account, joined=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def with_channel_counts(session: AsyncSession) -> list[tuple[str, int, datetime, int]]:
    """Every account that ever ran: (name, cap, last heartbeat, active channels it holds)."""
    owned = (select(m.Channel.account, func.count().label("n"))
             .where(m.Channel.status == ACTIVE, m.Channel.account.is_not(None))
             .group_by(m.Channel.account).subquery())
    rows = await session.execute(
        select(m.IngestAccount.name, m.IngestAccount.cap, m.IngestAccount.heartbeat_at, owned.c.n)
        .outerjoin(owned, owned.c.account == m.IngestAccount.name).order_by(m.IngestAccount.name))
    return [(name, cap, beat, int(n or 0)) for name, cap, beat, n in rows]


async def unreachable(session: AsyncSession, live: Sequence[str]) -> list[tuple[int, domain.ChannelRef]]:
    """Active channels no account in ``live`` can address: no username, unassigned, and no access
    hash kept by a live account."""
    known = exists().where(m.ChannelPeer.telegram_id == m.Channel.telegram_id, m.ChannelPeer.account.in_(list(live)))
    rows = await session.execute(
        select(m.Channel.id, m.Channel.telegram_id, m.Channel.title)
        .where(m.Channel.status == ACTIVE, m.Channel.telegram_id.is_not(None),
               m.Channel.username.is_(None), m.Channel.account.is_(None), ~known))
    return [(row_id, domain.ChannelRef(telegram_id, None, title)) for row_id, telegram_id, title in rows]
