"""The access hashes each monitoring account addresses its channels by (table channel_peers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import models as m


async def load_peers(session: AsyncSession, account: str) -> dict[int, int]:
    """telegram id -> access hash, for one account."""
    rows = await session.execute(select(m.ChannelPeer.telegram_id, m.ChannelPeer.access_hash)
                                 .where(m.ChannelPeer.account == account))
    return {int(telegram_id): int(access_hash) for telegram_id, access_hash in rows}


async def save_peer(session: AsyncSession, account: str, telegram_id: int, access_hash: int | None,
                    now: datetime) -> None:
    """Keep (or, with None, forget) the access hash `account` addresses channel `telegram_id` by."""
    if access_hash is None:
        await session.execute(delete(m.ChannelPeer).where(m.ChannelPeer.account == account,
                                                          m.ChannelPeer.telegram_id == telegram_id))
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(m.ChannelPeer).values(account=account, telegram_id=telegram_id, access_hash=access_hash,
                                        updated_at=now)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["account", "telegram_id"],
        set_={"access_hash": stmt.excluded.access_hash, "updated_at": stmt.excluded.updated_at}))
