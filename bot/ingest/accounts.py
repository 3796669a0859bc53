"""Which monitoring account watches which channel: heartbeats, fair shares, takeover of dead accounts.

Each ingest process runs one monitoring account (`tgmon run --role ingest --account NAME`). At
start and on every gap-fill pass it calls `balance`, which in ONE transaction:

1. heartbeats the account in `ingest_accounts` (name, cap, heartbeat_at);
2. reads the live accounts (heartbeat within `stale_after`, three gap-fill periods by default) and
   the active channels;
3. works out the account's share: the smallest level L such that the live accounts, each holding
   min(its cap, L), can hold every active channel (water filling), so every live account ends up
   with about the same number of channels, and an account with a small cap leaves the rest to the
   others; the share is min(cap, L);
4. above its share (another account came up, or the cap was lowered) it releases the excess
   (channels it has not joined first, then the newest); below it, it claims channels that no
   account has, or whose account is dead (stale heartbeat), oldest first, up to its share, and
   only channels it can address: a public username, or an access hash it keeps (channel_peers; a
   private channel joined by invite is readable only by the accounts that joined it).

Every process computes the same level from the same rows, so the shares add up and nobody grabs
everything when others are live; a new account gets its share within two gap-fill passes (the
others release on their pass, it claims on its next). Channels beyond the caps of every live account
stay unassigned (`channels.account` NULL) and `Assignment.over_capacity` says how many.

Claims are atomic: on PostgreSQL the transaction first takes a transaction-level advisory lock,
so balancing passes of several processes run one after the other; each claim is also a conditional
UPDATE (only rows still unassigned or of a dead account). On SQLite the transaction is BEGIN
IMMEDIATE, which serialises writers (and there is one process per SQLite database anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.storage import models as m
from bot.storage.database import Database

ASSIGN_LOCK_KEY = 0x7467_6D6F_6E5F_6163  # pg advisory lock "tgmon_ac": one balancing pass at a time
STALE_PERIODS = 3  # an account is dead after this many gap-fill periods without a heartbeat


def stale_after(gap_fill_minutes: float) -> timedelta:
    return timedelta(minutes=gap_fill_minutes * STALE_PERIODS)


@dataclass(frozen=True, slots=True)
class Assignment:
    """What one balancing pass did for one account, and what it saw."""

    account: str
    share: int  # channels this account should watch now
    owned: int  # channels it watches after the pass
    claimed: int
    released: int
    live: tuple[str, ...]  # the live accounts, this one included
    active: int  # active channels in all
    over_capacity: int  # active channels beyond the caps of every live account: unassigned


def share_level(caps: Sequence[int], total: int) -> int:
    """The smallest L with sum(min(cap, L)) >= total; the largest cap when even every cap is too little."""
    if total <= 0 or not caps:
        return 0
    low, high = 0, max(caps)
    if sum(caps) < total:
        return high
    while low < high:
        mid = (low + high) // 2
        if sum(min(cap, mid) for cap in caps) >= total:
            high = mid
        else:
            low = mid + 1
    return low


async def _upsert_heartbeat(session: AsyncSession, dialect: str, account: str, cap: int, now: datetime) -> None:
    values = {"name": account, "cap": cap, "heartbeat_at": now}
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(m.IngestAccount).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[m.IngestAccount.name],
                                                     set_={"cap": cap, "heartbeat_at": now}))


async def heartbeat(db: Database, account: str, cap: int, now: datetime) -> None:
    """The account is alive (called between balancing passes, e.g. during a long backfill)."""
    async with db.uow() as session:
        await _upsert_heartbeat(session, db.dialect, account, cap, now)


async def balance(db: Database, account: str, cap: int, now: datetime, stale: timedelta) -> Assignment:
    """Heartbeat `account`, then release or claim channels so it holds its fair share (module doc)."""
    async with db.uow() as session:
        if db.dialect == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ASSIGN_LOCK_KEY})
        await _upsert_heartbeat(session, db.dialect, account, cap, now)
        caps = dict((await session.execute(
            select(m.IngestAccount.name, m.IngestAccount.cap).where(m.IngestAccount.heartbeat_at >= now - stale)
        )).all())
        caps[account] = cap
        known = exists().where(m.ChannelPeer.account == account, m.ChannelPeer.telegram_id == m.Channel.telegram_id)
        channels = (await session.execute(
            select(m.Channel.id, m.Channel.account, m.Channel.joined, or_(m.Channel.username.is_not(None), known))
            .where(m.Channel.status == domain.ChannelStatus.ACTIVE.value, m.Channel.telegram_id.is_not(None))
            .order_by(m.Channel.id)
        )).all()
        share = min(cap, share_level(list(caps.values()), len(channels)))
        mine = [(cid, joined) for cid, owner, joined, _ in channels if owner == account]
        claimed = released = 0
        if len(mine) > share:
            excess = sorted(mine, key=lambda row: (row[1], -row[0]))[: len(mine) - share]  # unjoined, newest
            result = await session.execute(
                update(m.Channel).where(m.Channel.id.in_([cid for cid, _ in excess]), m.Channel.account == account)
                .values(account=None, joined=False))
            released = result.rowcount  # type: ignore[attr-defined]
        elif len(mine) < share:
            # only what this account can address: a public username, or an access hash it was given
            free = [cid for cid, owner, _, reachable in channels if reachable and (owner is None or owner not in caps)]
            wanted = free[: share - len(mine)]
            if wanted:
                result = await session.execute(
                    update(m.Channel)
                    .where(m.Channel.id.in_(wanted),
                           or_(m.Channel.account.is_(None), m.Channel.account.not_in(list(caps))))
                    .values(account=account, joined=False))  # this account has not joined it yet
                claimed = result.rowcount  # type: ignore[attr-defined]
    return Assignment(account=account, share=share, owned=len(mine) + claimed - released, claimed=claimed,
                      released=released, live=tuple(sorted(caps)), active=len(channels),
                      over_capacity=max(0, len(channels) - sum(caps.values())))


@dataclass(frozen=True, slots=True)
class AccountState:
    name: str
    cap: int
    heartbeat_at: datetime
    live: bool
    channels: int  # active channels assigned to it


async def account_states(db: Database, now: datetime, stale: timedelta) -> list[AccountState]:
    """Every account that ever ran an ingest process, with its channel count (for `channels list`, `stats`)."""
    owned = (
        select(m.Channel.account, func.count().label("n"))
        .where(m.Channel.status == domain.ChannelStatus.ACTIVE.value, m.Channel.account.is_not(None))
        .group_by(m.Channel.account).subquery()
    )
    async with db.uow(read_only=True) as session:
        rows = (await session.execute(
            select(m.IngestAccount.name, m.IngestAccount.cap, m.IngestAccount.heartbeat_at, owned.c.n)
            .outerjoin(owned, owned.c.account == m.IngestAccount.name)
            .order_by(m.IngestAccount.name)
        )).all()
    return [AccountState(name, cap, beat, beat >= now - stale, int(n or 0)) for name, cap, beat, n in rows]


async def unreachable(db: Database, live: Sequence[str]) -> list[tuple[int, domain.ChannelRef]]:
    """Active channels no live account can address: no username to look them up by, and no live
    account keeps an access hash for them (a private channel whose account is gone)."""
    known = exists().where(m.ChannelPeer.telegram_id == m.Channel.telegram_id, m.ChannelPeer.account.in_(list(live)))
    async with db.uow(read_only=True) as session:
        rows = (await session.execute(
            select(m.Channel.id, m.Channel.telegram_id, m.Channel.title)
            .where(m.Channel.status == domain.ChannelStatus.ACTIVE.value, m.Channel.telegram_id.is_not(None),
                   m.Channel.username.is_(None), m.Channel.account.is_(None), ~known)
        )).all()
    return [(row_id, domain.ChannelRef(telegram_id, None, title)) for row_id, telegram_id, title in rows]
