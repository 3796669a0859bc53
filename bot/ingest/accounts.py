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

from bot import domain
from bot.storage import accounts as stored_accounts
from bot.storage.database import Database

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


async def heartbeat(db: Database, account: str, cap: int, now: datetime) -> None:
    """The account is alive (called between balancing passes, e.g. during a long backfill)."""
    async with db.uow() as session:
        await stored_accounts.beat(session, account, cap, now)


async def balance(db: Database, account: str, cap: int, now: datetime, stale: timedelta) -> Assignment:
    """Heartbeat `account`, then release or claim channels so it holds its fair share (module doc)."""
    async with db.uow() as session:
        await stored_accounts.lock_assignments(session)
        await stored_accounts.beat(session, account, cap, now)
        caps = await stored_accounts.live_caps(session, now - stale)
        caps[account] = cap
        channels = await stored_accounts.assignable(session, account)
        share = min(cap, share_level(list(caps.values()), len(channels)))
        mine = [(cid, joined) for cid, owner, joined, _ in channels if owner == account]
        claimed = released = 0
        if len(mine) > share:
            excess = sorted(mine, key=lambda row: (row[1], -row[0]))[: len(mine) - share]  # unjoined, newest
            released = await stored_accounts.release(session, account, [cid for cid, _ in excess])
        elif len(mine) < share:
            # only what this account can address: a public username, or an access hash it was given
            free = [cid for cid, owner, _, reachable in channels if reachable and (owner is None or owner not in caps)]
            wanted = free[: share - len(mine)]
            if wanted:
                claimed = await stored_accounts.claim(session, account, wanted, list(caps))
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
    async with db.uow(read_only=True) as session:
        rows = await stored_accounts.with_channel_counts(session)
    return [AccountState(name, cap, beat, beat >= now - stale, n) for name, cap, beat, n in rows]


async def unreachable(db: Database, live: Sequence[str]) -> list[tuple[int, domain.ChannelRef]]:
    """Active channels no live account can address: no username to look them up by, and no live
    account keeps an access hash for them (a private channel whose account is gone)."""
    async with db.uow(read_only=True) as session:
        return await stored_accounts.unreachable(session, live)
