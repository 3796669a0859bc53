"""One page of a channel's history read newest first, as a first backfill stores it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot import domain


@dataclass(frozen=True, slots=True)
class HistoryPage:
    posts: list[domain.Post] = field(default_factory=list)  # within the backfill's bounds, oldest first
    newest_id: int = 0  # the highest message id on the page
    oldest_id: int = 0  # the lowest message id read: the next page (or a resumed run) starts below it
    total: int | None = None  # messages in the channel, as Telegram counts them
