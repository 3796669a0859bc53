"""The weekly chart: the digest's items per day, stacked by rule, as a PNG drawn for a phone.

It counts what the digest text counts: one item per post, reposts collapsed into their original, each
item under the rule it is listed under (so the bars add up to the digest's "N items"). Telegram shows
a photo about 360 px wide on a phone: the figure is drawn at 1080 px with large type, the day names on
two lines instead of slanted, the legend above the plot where it covers no bar, and each day's total
written on its bar. A week whose items fall on fewer than two days has nothing a chart would add to
the text: no chart is sent (`weekly_chart_png` returns None).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.digest.render import DigestItem
from bot.i18n import DEFAULT_LANGUAGE, label
from bot.i18n.dates import chart_day

MAX_RULES = 5  # more colours than this is unreadable on a phone: the busiest rules, the rest summed as "other"
OTHER = "\x00other"  # the series of the rest: a key no rule name can be (rule names come from users)
MIN_DAYS = 2  # days with items a chart needs to say more than the text
# colour-blind safe (Okabe-Ito), the grey last for "other"
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#999999")


def daily_counts(
    items: Sequence[DigestItem], since: datetime, until: datetime, tz: str
) -> tuple[list[date], dict[str, list[int]]]:
    """Per rule (busiest first), the number of items on each local day from `since` to `until`."""
    zone = ZoneInfo(tz)
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    counts: Counter[tuple[str, date]] = Counter((item.rule, item.date.astimezone(zone).date()) for item in items)
    totals = Counter[str]()
    for (rule, _), n in counts.items():
        totals[rule] += n
    top = [rule for rule, _ in totals.most_common(MAX_RULES)]
    series = {rule: [counts[(rule, d)] for d in days] for rule in top}
    rest = [rule for rule in totals if rule not in top]
    if rest:
        series[OTHER] = [sum(counts[(rule, d)] for rule in rest) for d in days]
    return days, series


def worth_a_chart(days: Sequence[date], series: dict[str, list[int]]) -> bool:
    busy = sum(1 for i in range(len(days)) if any(values[i] for values in series.values()))
    return busy >= MIN_DAYS


def weekly_chart_png(
    items: Sequence[DigestItem], since: datetime, until: datetime, tz: str, lang: str = DEFAULT_LANGUAGE
) -> bytes | None:
    """The chart with its title, axis and day names in the subscriber's language `lang`; None when
    there is nothing to show (module doc)."""
    days, series = daily_counts(items, since, until, tz)
    if not worth_a_chart(days, series):
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # a bare Figure: no pyplot global state, safe in threads
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7.2, 5.4), dpi=150)  # 1080 x 810 px: a third of it is what a phone shows
    ax = fig.add_subplot()
    labels = [chart_day(lang, d).replace(" ", "\n") for d in days]
    positions = list(range(len(days)))
    bottom = [0] * len(days)
    for n, (rule, values) in enumerate(series.items()):
        name = label(lang, "chart_other_txt") if rule == OTHER else rule
        colour = COLOURS[-1] if rule == OTHER else COLOURS[n % (len(COLOURS) - 1)]
        ax.bar(positions, values, bottom=bottom, width=0.7, color=colour, label=_short(name), zorder=2)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, total in zip(positions, bottom, strict=True):
        if total:
            ax.annotate(str(total), (x, total), xytext=(0, 4), textcoords="offset points", ha="center",
                        va="bottom", fontsize=17, fontweight="bold")
    ax.set_xticks(positions, labels)
    ax.tick_params(axis="both", labelsize=15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(bottom) * 1.18 + 0.5)  # room for the totals over the highest bar
    ax.set_ylabel(label(lang, "chart_axis_txt"), fontsize=15)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.suptitle(label(lang, "chart_title_txt"), fontsize=19, fontweight="bold", x=0.02, ha="left")
    rows = (len(series) + 1) // 2
    # the legend sits between the title and the plot, so it never covers a bar
    fig.legend(loc="upper left", bbox_to_anchor=(0.01, 0.93), ncols=2, fontsize=14, frameon=False,
               handlelength=1.2, columnspacing=1.2)
    fig.tight_layout(rect=(0, 0, 1, 0.975 - 0.06 * rows))
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
