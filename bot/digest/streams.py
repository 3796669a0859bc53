"""Per-rule delivery: which stream a rule's matches travel in, and when each stream is due.

A rule's delivery is the chat's frequency ('' in `rules.delivery`) or its own: instant, daily,
weekly or muted. A chat therefore has up to three streams (instant alerts, a daily and a weekly
digest), all at the chat's digest time and in its timezone; the stream of the chat's own frequency
is scheduled as before (`subscribers.last_digest_at`), the others here.

Every rule has its own watermark, `rules.delivered_until`: its matches found after it are unsent.
A digest takes the unsent matches of the rules in its stream and moves their watermarks, in the
transaction that queues it. A rule whose delivery changes between two ticks takes its unsent
matches to its new stream: none is sent twice, none is lost. A muted rule's matches are sent in no
stream (nor in /digest week); unmuting moves its watermark to that moment: what matched while it
was muted stays unsent, and /search and /export still show it. The watermarks' queries are the
digests repository's (`bot/storage/digests.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from bot.domain import Frequency
from bot.storage.digests import RuleState, instant_candidates, instant_ready, rules_by_subscriber

__all__ = ["STREAMS", "RuleState", "instant_candidates", "instant_ready", "partition", "rules_by_subscriber", "stream_of"]

STREAMS = (Frequency.INSTANT, Frequency.DAILY, Frequency.WEEKLY)


def stream_of(delivery: str, frequency: str) -> str:
    """The stream a rule's matches go to: its own delivery, or the chat's frequency."""
    return delivery or frequency


def partition(rules: Sequence[RuleState], frequency: str) -> dict[str, list[RuleState]]:
    """The chat's rules by stream (muted ones under 'muted')."""
    out: dict[str, list[RuleState]] = defaultdict(list)
    for rule in rules:
        out[stream_of(rule.delivery, frequency)].append(rule)
    return out
