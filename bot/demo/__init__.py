"""The offline demo: a sample channel export replayed through the real pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import App
from bot.digest.builder import build_digest, digest_title
from bot.digest.render import DigestItem
from bot.domain import IngestResult
from bot.i18n import known_language
from bot.ingest.export import read_export
from bot.ingest.pipeline import as_async
from bot.storage import models as m
from bot.storage import rules as stored_rules
from bot.storage.digests import matches_posted_between
from bot.storage.stats import newest_post_date

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
        sub = await stored_rules.get_subscriber(session, DEMO_CHAT_ID)
        if sub is None:
            sub = await stored_rules.add_subscriber(session, m.Subscriber(
                chat_id=DEMO_CHAT_ID, title="Demo subscriber", language="en", timezone="Europe/Moscow"))
        existing = {r.source for r in await stored_rules.rules_of(session, sub.id)}
        await stored_rules.add_rules(session, [m.Rule(subscriber_id=sub.id, name=name, source=source, channels=[])
                                               for name, source in DEMO_RULES if source not in existing])
        subscriber_id, lang = sub.id, known_language(sub.language)
    await app.pipeline.reload_rules()
    result = await app.pipeline.ingest_stream(as_async(read_export(export, username="vvgladkov")))
    async with app.db.uow(read_only=True) as session:
        newest = await newest_post_date(session)
    until = newest or datetime.now(UTC)
    since = until - timedelta(days=1)
    # the builder the scheduler uses: grouped, reposts collapsed, split for Telegram
    async with app.db.uow(read_only=True) as session:
        rows = await matches_posted_between(session, subscriber_id, since, until)
    tz = "Europe/Moscow"
    built = build_digest(rows, tz=tz, title=digest_title("daily", since, until, tz, lang),
                         size=app.settings.digest.max_items, excerpt_chars=app.settings.digest.excerpt_chars,
                         lang=lang)
    return DemoReport(result, built.items, built.chunks, since, until)
