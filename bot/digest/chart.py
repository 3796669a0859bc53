"""The weekly chart: matches per day per rule over the period, as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.digest.select import MatchRow
from bot.i18n import DEFAULT_LANGUAGE, label
from bot.i18n.dates import chart_day

MAX_RULES = 8  # more lines than this is unreadable: the busiest rules are drawn, the rest summed as "other"
OTHER = "\x00other"  # the series of the rest: a key no rule name can be (rule names come from users)


def daily_counts(
    rows: Sequence[MatchRow], since: datetime, until: datetime, tz: str
) -> tuple[list[date], dict[str, list[int]]]:
    """Per rule, the number of matched posts on each local day from `since` to `until`."""
    zone = ZoneInfo(tz)
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    counts: Counter[tuple[str, date]] = Counter()
    seen: set[tuple[int, int]] = set()
    for row in rows:
        if (row.rule_id, row.post_id) not in seen:
            seen.add((row.rule_id, row.post_id))
            counts[(row.rule_name, row.date.astimezone(zone).date())] += 1
    totals = Counter[str]()
    for (rule, _), n in counts.items():
        totals[rule] += n
    top = [rule for rule, _ in totals.most_common(MAX_RULES)]
    series = {rule: [counts[(rule, d)] for d in days] for rule in sorted(top)}
    rest = [rule for rule in totals if rule not in top]
    if rest:
        series[OTHER] = [sum(counts[(rule, d)] for rule in rest) for d in days]
    return days, series


def weekly_chart_png(
    rows: Sequence[MatchRow], since: datetime, until: datetime, tz: str, lang: str = DEFAULT_LANGUAGE
) -> bytes:
    """The chart with its title, axis and day names in the subscriber's language `lang`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # a bare Figure: no pyplot global state, safe in threads
    from matplotlib.ticker import MaxNLocator

    days, series = daily_counts(rows, since, until, tz)
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    labels = [chart_day(lang, d) for d in days]
    for rule, values in series.items():
        name = label(lang, "chart_other_txt") if rule == OTHER else rule
        ax.plot(labels, values, marker="o", label=name[:40])
    ax.set_title(label(lang, "chart_title_txt"))
    ax.set_ylabel(label(lang, "chart_axis_txt"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if series:
        ax.legend(loc="upper left", fontsize="small")
    ax.tick_params(axis="x", labelrotation=30, labelsize="small")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
