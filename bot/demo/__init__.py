"""The offline demo: a sample channel export replayed through the real pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.app import App
from bot.digest import DigestItem, digest_items, render_items_html, split_chunks
from bot.domain import IngestResult
from bot.ingest.export import read_export
from bot.ingest.pipeline import as_async
from bot.storage import models as m

SAMPLE_EXPORT = Path(__file__).parent / "sample_export.json"
DEMO_CHAT_ID = 100_000_001
DEMO_RULES = (
    ("self-defense / самооборона", "самооборона"),
    ("self-defense (en)", "self-defense"),
    ("shelling / обстрел", "обстрел"),
    ("shelling (en)", "shelling"),
    ("battalions / батальон", "батальон"),
)


@dataclass(frozen=True, slots=True)
class DemoReport:
    result: IngestResult
    items: list[DigestItem]
    chunks: list[str]
    since: datetime
    until: datetime


async def run_demo(app: App, export: Path = SAMPLE_EXPORT) -> DemoReport:
    """Import the sample, set up the sample subscriber and rules, and build its digest."""
    async with app.db.uow() as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == DEMO_CHAT_ID))
        if sub is None:
            sub = m.Subscriber(chat_id=DEMO_CHAT_ID, title="Demo subscriber", language="en", timezone="Europe/Moscow")
            session.add(sub)
            await session.flush()
        existing = set(await session.scalars(select(m.Rule.source).where(m.Rule.subscriber_id == sub.id)))
        for name, source in DEMO_RULES:
            if source not in existing:
                session.add(m.Rule(subscriber_id=sub.id, name=name, source=source, channels=[]))
        subscriber_id = sub.id
    await app.pipeline.reload_rules()
    result = await app.pipeline.ingest_stream(as_async(read_export(export, username="vvgladkov")))
    async with app.db.uow(read_only=True) as session:
        newest = await session.scalar(select(m.Post.date).order_by(m.Post.date.desc()).limit(1))
    until = newest or datetime.now(UTC)
    since = until - timedelta(days=1)
    items = await digest_items(app.db, subscriber_id, since, until)
    title = f"Daily digest, {until:%Y-%m-%d}: {len(items)} matches"
    chunks = split_chunks(render_items_html(items, "Europe/Moscow", title))
    return DemoReport(result, items, chunks, since, until)
