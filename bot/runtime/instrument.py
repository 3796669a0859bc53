"""Metrics and heartbeats around the services, added in the composition root.

The services stay unaware of Prometheus: the runtime hands them a clock that beats on every sleep
(a loop pass), a sender that counts what it sends, and a pipeline that counts what it stores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot import domain, metrics
from bot.ingest.pipeline import Pipeline
from bot.storage import models as m


class SystemClock:
    """The real clock: aware UTC time, asyncio sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class BeatingClock:
    """A clock that reports a heartbeat for `service` whenever the service sleeps between passes."""

    def __init__(self, inner: domain.Clock, service: str) -> None:
        self.inner = inner
        self.service = service

    def now(self) -> datetime:
        return self.inner.now()

    async def sleep(self, seconds: float) -> None:
        metrics.heartbeat(self.service)
        await self.inner.sleep(seconds)
        metrics.heartbeat(self.service)


class CountingSender:
    """Counts sends and failures by reason; FloodWait seconds too. Re-raises every error unchanged."""

    def __init__(self, inner: domain.Sender, where: str = "delivery") -> None:
        self.inner = inner
        self.where = where

    async def send_html(
        self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None
    ) -> domain.SendResult:
        from bot.delivery.errors import ChatFloodWait, ChatUnavailable, SendUncertain

        try:
            result = await self.inner.send_html(chat_id, html, random_id=random_id, attachment=attachment)
        except ChatFloodWait as exc:
            metrics.send_failed("flood_wait")
            metrics.flood_wait(exc.seconds, self.where)
            raise
        except ChatUnavailable:
            metrics.send_failed("unavailable")
            raise
        except SendUncertain:
            metrics.send_failed("uncertain")
            raise
        except Exception:
            metrics.send_failed("failed")
            raise
        metrics.message_sent()
        metrics.heartbeat(f"{self.where}.sent")
        return result


class MeteredPipeline(Pipeline):
    """The pipeline, counting every batch and each channel's lag (newest post date to now).

    It also notices rule changes made by another process (the bot role in a scaled-out deployment
    edits rules, the ingest role matches): at most every `rules_check_seconds` a one-row query
    fingerprints the active rules, and a different fingerprint recompiles the matcher.
    """

    rules_check_seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fingerprint: tuple[int, ...] | None = None
        self._checked_at = float("-inf")

    async def reload_rules(self) -> domain.Matcher:
        fingerprint = await self._rules_fingerprint()
        matcher = await super().reload_rules()
        self._fingerprint, self._checked_at = fingerprint, time.monotonic()
        return matcher

    async def matcher(self) -> domain.Matcher:
        if time.monotonic() - self._checked_at >= self.rules_check_seconds:
            self._checked_at = time.monotonic()
            if await self._rules_fingerprint() != self._fingerprint:
                return await self.reload_rules()
        return await super().matcher()

    async def _rules_fingerprint(self) -> tuple[int, ...]:
        rules = select(func.count(), func.coalesce(func.max(m.Rule.id), 0), func.coalesce(func.sum(m.Rule.id), 0)).join(
            m.Subscriber, m.Subscriber.id == m.Rule.subscriber_id).where(m.Subscriber.active.is_(True))
        async with self.db.uow(read_only=True) as session:
            row = (await session.execute(rules)).one()
        return tuple(int(v or 0) for v in row)

    async def ingest(self, posts: Sequence[domain.Post]) -> domain.IngestResult:
        result = await super().ingest(posts)
        now = datetime.now(UTC)
        newest: dict[str, datetime] = {}
        if result.stored:
            for post in posts:
                key = post.channel.key
                if key not in newest or post.date > newest[key]:
                    newest[key] = post.date
        metrics.record_ingest(result, {k: (now - d).total_seconds() for k, d in newest.items()})
        return result
