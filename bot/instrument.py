"""Metrics and heartbeats around the services, added in the composition root.

The services stay unaware of Prometheus: the runtime hands them a clock that beats on every sleep
(a loop pass), a sender that counts what it sends, and a pipeline that counts what it stores.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from bot import domain, metrics
from bot.ingest.pipeline import Pipeline


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
        self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None, silent: bool = False,
        buttons: domain.InlineButtons = (),
    ) -> domain.SendResult:
        from bot.delivery.errors import ChatFloodWait, ChatUnavailable, SendUncertain

        try:
            result = await self.inner.send_html(chat_id, html, random_id=random_id, attachment=attachment,
                                                silent=silent, buttons=buttons)
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


class CountingNotifier:
    """Counts messages to other services by outcome. Re-raises every error unchanged."""

    def __init__(self, inner: domain.Notifier) -> None:
        self.inner = inner

    async def notify(self, target_id: int, html: str, *, key: str,
                     on_wire: Callable[[], Awaitable[None]] | None = None,
                     subscriber_id: int | None = None) -> domain.SendResult:
        from bot.delivery.errors import DestinationGone, SendInDoubt, SendUncertain

        try:
            result = await self.inner.notify(target_id, html, key=key, on_wire=on_wire, subscriber_id=subscriber_id)
        except DestinationGone:
            metrics.notification("gone")
            raise
        except (SendUncertain, SendInDoubt):
            metrics.notification("uncertain")
            raise
        except Exception:
            metrics.notification("failed")
            raise
        metrics.notification("sent")  # no heartbeat: the delivery loop's clock beats on every pass
        return result


class MeteredPipeline(Pipeline):
    """The pipeline, counting every batch and each channel's lag (newest post date to now)."""

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
