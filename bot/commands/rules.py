"""/watch, /rules, /unwatch, /search and the rule list's buttons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands import rule_edit
from bot.commands.context import CommandContext, Request
from bot.commands.errors import rule_error_text
from bot.commands.render import as_int, clip, esc, marked, page_of, pager
from bot.commands.rule_edit import rule_line
from bot.commands.types import Button, Reply
from bot.digest.render import excerpt
from bot.i18n import N_, label, plural, t
from bot.matching import ParsedRule, RuleError, parse_rule
from bot.matching.quota import RuleQuota
from bot.matching.rules import check_rule_cost, check_single_letters
from bot.storage import matches as stored_matches
from bot.storage import models as m
from bot.storage.rules import add_rule, delete_rule, ensure_subscriber, rule_of, rules_of

DRY_RUN_DAYS = 7
PAST_MATCHES = 1_000  # a new rule's matches on stored posts recorded at most (the newest)
_QUOTA_KEYS = (N_("rule_quota"), N_("regex_quota"))  # named by bot.matching.quota's refusals
_REGEX = re.compile(r"(?:^|[\s(])/(?:[^/\\\s]|\\.)(?:[^/\\]|\\.)*/")


def _rule_error(lang: str, err: RuleError) -> str:
    return rule_error_text(lang, err)


def _checked(source: str, ctx: CommandContext, *, watching: bool = False) -> ParsedRule:
    """The parsed rule, its /patterns/ timed on worst-case posts (a new rule must not slow
    everyone's matching) and, for a rule to watch, each narrowed by a literal it requires (so it
    runs only on the posts holding it). Raises RuleError."""
    limits = ctx.settings.matching
    parsed = parse_rule(source, max_length=limits.max_rule_length, max_terms=limits.max_terms)
    check_single_letters(parsed)
    check_rule_cost(parsed, need_literals=watching)
    return parsed


def _comma_list(source: str) -> list[str] | None:
    """`беспилотник, дрон, бпла`: words split by commas, outside quotes and /patterns/ (a rule would
    read them as one AND of all); None when the rule is not such a list."""
    if "," not in source or '"' in source or "/" in source:
        return None
    parts = [p.strip() for p in source.split(",")]
    return parts if len(parts) > 1 and all(parts) else None


async def watch(ctx: CommandContext, req: Request) -> Reply:
    source = " ".join(req.args.split())
    if not source:
        return Reply(t(req.lang, "watch_usage"))
    listed = _comma_list(source)
    if listed is not None:  # ask, never guess: any of them, or all of them together
        return Reply(t(req.lang, "watch_comma_list", any=" OR ".join(listed), all=" ".join(listed)))
    try:
        parsed = _checked(source, ctx, watching=True)
    except RuleError as err:
        return Reply(_rule_error(req.lang, err))
    scope = [str(c) for c in getattr(parsed, "channels", ())]  # `in:@name` in the rule
    async with ctx.db.uow() as session:
        sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
        existing = await rules_of(session, sub.id)
        if any(r.source.casefold() == source.casefold() for r in existing):
            number = next(i for i, r in enumerate(existing, 1) if r.source.casefold() == source.casefold())
            return Reply(t(req.lang, "rule_exists", number=number, rule=clip(source, 200)))
        refusal = RuleQuota.of(ctx.settings).refusal([_parse_quietly(r.source) for r in existing], parsed)
        if refusal is not None:
            key, limit = refusal
            return Reply(t(req.lang, key, limit=limit))
        rule = await add_rule(session, m.Rule(subscriber_id=sub.id, name="", source=source, channels=scope))
        rule_id, number, tz = rule.id, len(existing) + 1, sub.timezone
    await ctx.notify_rules_changed()
    text = t(req.lang, "rule_added", number=number, rule=clip(source, 200))
    text += "\n\n" + await _dry_run(ctx, req.lang, source, tz, rule_id)
    buttons = (
        (
            Button(label(req.lang, "delete_rule_btn"), f"r:del:{rule_id}:0"),
            Button(label(req.lang, "my_rules_btn"), "r:page:0"),
        ),
    )
    return Reply(text, buttons)


def _parse_quietly(source: str) -> ParsedRule | None:
    try:
        return parse_rule(source, max_length=100_000, max_terms=100_000)
    except RuleError:
        return None


async def _dry_run(ctx: CommandContext, lang: str, source: str, tz: str, rule_id: int) -> str:
    """What the new rule finds among the posts of the last DRY_RUN_DAYS, recorded as its matches so
    `/digest week`, the chart and `/export` show the same posts the reply counts."""
    from bot.search import search_posts

    since = ctx.now() - timedelta(days=DRY_RUN_DAYS)
    try:
        found = await search_posts(ctx.db, source, since=since, limit=PAST_MATCHES)
    except RuleError as err:
        return _rule_error(lang, err)
    strictness = _topic_strictness(source)
    if found.total == 0:
        if strictness is not None:
            return "\n".join([t(lang, "dry_run_topic_none", days=DRY_RUN_DAYS),
                              *_near_lines(lang, found, strictness, tz)])
        return t(lang, "dry_run_none", days=DRY_RUN_DAYS)
    async with ctx.db.uow() as session:
        await stored_matches.record_past(session, rule_id, [(p.post_id, p.highlights, p.date) for p in found.posts])
    if found.exact:
        posts = plural(lang, "stored_posts_n", found.total)
    else:  # counting them all would have taken longer than the page
        posts = plural(lang, "stored_posts_at_least_n", found.total)
    if strictness is not None:
        return _topic_dry_run(lang, found, posts, strictness, tz)
    lines = [t(lang, "dry_run", days=DRY_RUN_DAYS, posts=posts)]
    lines.extend(post_line(post, tz) for post in found.posts[:2])
    return "\n".join(lines)


def _topic_strictness(source: str) -> float | None:
    """The strictest topic of a topic rule (what the dry run explains), None for a keyword rule."""
    from bot.matching.topics import DEFAULT_CLOSENESS

    parsed = _parse_quietly(source)
    levels = [term.closeness or DEFAULT_CLOSENESS for term in getattr(parsed, "terms", ()) if term.kind == "topic"]
    return max(levels) if levels else None


def _topic_dry_run(lang: str, found: Any, posts: str, strictness: float, tz: str) -> str:
    """A topic rule's dry run: the closest posts, the borderline ones it still takes, and the
    closest it missed, each with its closeness, so the subscriber sees what "close" means."""
    ranked = sorted(found.posts, key=lambda p: -(p.closeness or 0.0))
    best, rest = ranked[:2], ranked[2:]
    lines = [t(lang, "dry_run_topic", days=DRY_RUN_DAYS, posts=posts, strictness=f"{strictness:g}")]
    lines.extend(post_line(post, tz, post.closeness) for post in best)
    if rest:
        lines.append(t(lang, "dry_run_topic_borderline"))
        lines.extend(post_line(post, tz, post.closeness) for post in rest[-1:])
    lines.extend(_near_lines(lang, found, strictness, tz))
    return "\n".join(lines)


def _near_lines(lang: str, found: Any, strictness: float, tz: str) -> list[str]:
    near = list(getattr(found, "near", ()))[:1]
    if not near:
        return []
    looser = max(0.05, round((near[0].closeness or 0.0) - 0.005, 2))
    return [t(lang, "dry_run_topic_near", looser=f"{looser:g}"), *(post_line(p, tz, p.closeness) for p in near)]


def post_line(post: Any, tz: str, closeness: float | None = None) -> str:
    text, spans, cut_start, cut_end = excerpt(post.text or "", list(post.highlights), 200)
    when = post.date.astimezone(ZoneInfo(tz)).strftime("%d.%m %H:%M")
    channel = post.channel_title or post.channel_username or "?"
    shown = ("… " if cut_start else "") + marked(text, spans) + (" …" if cut_end else "")
    close = f" ({closeness:.2f})" if closeness is not None else ""
    return f"• {when} <i>{esc(clip(channel, 60))}</i>{close}: {shown}\n{esc(post.link)}"


async def list_rules(ctx: CommandContext, req: Request, page: int = 0) -> Reply:
    if req.subscriber is None:
        return Reply(t(req.lang, "rules_empty"))
    async with ctx.db.uow(read_only=True) as session:
        items = await rules_of(session, req.subscriber.id)
    return _rules_screen(ctx, req.lang, items, page)


def _rules_screen(ctx: CommandContext, lang: str, items: Sequence[m.Rule], page: int) -> Reply:
    if not items:
        return Reply(t(lang, "rules_empty"))
    shown, page, pages = page_of(items, page)
    first = page * 10 + 1
    lines = [t(lang, "rules_header", count=len(items), limit=ctx.settings.bot.max_rules)]
    lines += [rule_line(lang, n, r) for n, r in enumerate(shown, first)]
    lines.append(t(lang, "rules_footer"))
    opened = [Button(label(lang, "open_n_btn", number=n), f"r:open:{r.id}:{page}") for n, r in enumerate(shown, first)]
    delete = [
        Button(label(lang, "delete_n_btn", number=n), f"r:del:{r.id}:{page}")
        for n, r in enumerate(shown, first)
    ]
    rows: list[tuple[Button, ...]] = []
    for i in range(0, len(delete), 5):
        rows += [tuple(opened[i : i + 5]), tuple(delete[i : i + 5])]
    nav = pager("r:page", page, pages)
    if nav:
        rows.append(nav)
    return Reply("\n".join(lines), tuple(rows))


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    action = parts[0] if parts else ""
    if action == "page" and len(parts) == 2 and (page := as_int(parts[1])) is not None:
        return await list_rules(ctx, req, page)
    if action == "del" and len(parts) == 3 and (rule_id := as_int(parts[1])) is not None:
        return await _delete_by_id(ctx, req, rule_id, as_int(parts[2]) or 0)
    if action == "open" and len(parts) == 3 and (rule_id := as_int(parts[1])) is not None:
        return await rule_edit.open_card(ctx, req, rule_id, as_int(parts[2]) or 0)
    if action == "dl" and len(parts) == 4:
        return await rule_edit.on_delivery_button(ctx, req, parts[1:])
    if action == "nm" and len(parts) == 2:
        return await rule_edit.on_name_button(ctx, req, parts[1:])
    return Reply("", toast=t(req.lang, "button_stale"))


async def _delete_by_id(ctx: CommandContext, req: Request, rule_id: int, page: int) -> Reply:
    if req.subscriber is None:
        return Reply("", toast=t(req.lang, "rule_gone"), alert=True)
    async with ctx.db.uow() as session:
        rule = await rule_of(session, req.subscriber.id, rule_id)  # owner check: this chat's rules only
        if rule is None:
            return Reply("", toast=t(req.lang, "rule_gone"), alert=True)
        source = rule.source
        await delete_rule(session, rule)
        items = await rules_of(session, req.subscriber.id)
    await ctx.notify_rules_changed()
    screen = _rules_screen(ctx, req.lang, items, page)
    toast = label(req.lang, "rule_deleted_toast", rule=clip(source, 60))
    return Reply(screen.text, screen.buttons, toast=toast)


async def unwatch(ctx: CommandContext, req: Request) -> Reply:
    arg = " ".join(req.args.split())
    if not arg:
        return Reply(t(req.lang, "unwatch_usage"))
    if req.subscriber is None:
        return Reply(t(req.lang, "rules_empty"))
    async with ctx.db.uow() as session:
        items = await rules_of(session, req.subscriber.id)
        number = as_int(arg)
        target: m.Rule | None = None
        if number is not None and 1 <= number <= len(items):
            target = items[number - 1]
        else:
            target = next((r for r in items if r.source.casefold() == arg.casefold()), None)
        if target is None:
            return Reply(t(req.lang, "unwatch_not_found", value=clip(arg, 100), count=plural(req.lang, "rules_n", len(items))))
        source = target.source
        await delete_rule(session, target)
    await ctx.notify_rules_changed()
    return Reply(t(req.lang, "rule_deleted", rule=clip(source, 200)))


async def edit(ctx: CommandContext, req: Request) -> Reply:
    """/edit N RULE: the rule gets a new query and keeps its number, name and delivery. Its matches
    are those of the new query, recorded as /watch records a new rule's (the stored posts of the last
    days as `past`, shown by /digest week and /export; digests send what is found from now on)."""
    number_arg, _, source = " ".join(req.args.split()).partition(" ")
    if not number_arg or not source:
        return Reply(t(req.lang, "edit_usage"))
    found = await rule_edit.numbered(ctx, req, number_arg)
    if isinstance(found, Reply):
        return found
    number, target = found
    listed = _comma_list(source)
    if listed is not None:
        return Reply(t(req.lang, "edit_comma_list", number=number, any=" OR ".join(listed), all=" ".join(listed)))
    try:
        parsed = _checked(source, ctx)
    except RuleError as err:
        return Reply(_rule_error(req.lang, err))
    scope = [str(c) for c in getattr(parsed, "channels", ())]
    async with ctx.db.uow() as session:
        assert req.subscriber is not None  # numbered() found a rule of this chat
        others = [r for r in await rules_of(session, req.subscriber.id) if r.id != target.id]
        same = next((n for n, r in enumerate(others, 1) if r.source.casefold() == source.casefold()), None)
        if same is not None:
            return Reply(t(req.lang, "rule_exists", number=same + (same >= number), rule=clip(source, 200)))
        refusal = RuleQuota.of(ctx.settings).refusal([_parse_quietly(r.source) for r in others], parsed)
        if refusal is not None:  # a /pattern/ beyond the chat's share
            key, limit = refusal
            return Reply(t(req.lang, key, limit=limit))
        rule = await rule_of(session, req.subscriber.id, target.id)
        if rule is None:
            return Reply(t(req.lang, "rule_gone"))
        old = rule.source
        rule.source, rule.channels = source, scope
        rule.delivered_until = ctx.now()  # the old query's unsent matches go with it
        await stored_matches.delete_of_rule(session, rule.id)
        tz = req.subscriber.timezone
    await ctx.notify_rules_changed()
    text = t(req.lang, "rule_edited", number=number, rule=clip(source, 200), old=clip(old, 200))
    text += "\n\n" + await _dry_run(ctx, req.lang, source, tz, target.id)
    return Reply(text, ((Button(label(req.lang, "my_rules_btn"), "r:page:0"),),))
