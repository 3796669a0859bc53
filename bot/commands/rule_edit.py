"""A rule's own screen in /rules: its delivery (chat default, instant, daily, weekly, muted), its
name and its query, by button or typed (/delivery N MODE, /name N NAME, /edit N RULE).

A delivery change locks the chat's subscriber row, as the scheduler does while it builds that chat's
digests, so a rule never moves between streams in the middle of a build (bot/digest/streams.py).
"""

from __future__ import annotations

import re

from bot.commands.context import CommandContext, Request
from bot.commands.render import as_int, clip, esc
from bot.commands.types import Button, Reply
from bot.digest.service import lock_subscriber
from bot.domain import Delivery
from bot.i18n import N_, label, plural, t
from bot.storage import models as m
from bot.storage.rules import rule_of, rules_of

NAME_LIMIT = 64
CODES = {"d": Delivery.DEFAULT, "i": Delivery.INSTANT, "da": Delivery.DAILY, "w": Delivery.WEEKLY,
         "m": Delivery.MUTED}
# what a typed /delivery accepts, in every language the bot speaks (lower case)
WORDS: dict[str, Delivery] = {
    **dict.fromkeys(("default", "chat", "settings", "auto", "по умолчанию", "как в настройках", "обычно",
                     "за замовчуванням", "як у налаштуваннях"), Delivery.DEFAULT),
    **dict.fromkeys(("instant", "now", "at once", "сразу", "мгновенно", "одразу", "миттєво"), Delivery.INSTANT),
    **dict.fromkeys(("daily", "day", "ежедневно", "день", "раз в день", "щодня", "щоденно"), Delivery.DAILY),
    **dict.fromkeys(("weekly", "week", "еженедельно", "неделя", "раз в неделю", "щотижня", "щотижнево"),
                    Delivery.WEEKLY),
    **dict.fromkeys(("muted", "mute", "off", "none", "без уведомлений", "выкл", "не присылать", "тихо", "вимк",
                     "без сповіщень", "не надсилати"), Delivery.MUTED),
}
_LABELS = (N_("delivery_instant_btn"), N_("delivery_daily_btn"), N_("delivery_weekly_btn"), N_("delivery_muted_btn"))
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def delivery_label(lang: str, delivery: str, frequency: str) -> str:
    """Plain text: "⚡ instant", or "chat default (daily)"."""
    if not delivery:
        return label(lang, "delivery_default_btn", frequency=label(lang, f"freq_{frequency}_btn"))
    return label(lang, f"delivery_{delivery}_btn")


def rule_title(rule: m.Rule) -> str:
    """HTML: the rule's name in bold and its query, or the query alone."""
    query = f"<code>{esc(clip(rule.source, 100))}</code>"
    return f"<b>{esc(clip(rule.name, NAME_LIMIT))}</b> · {query}" if rule.name else query


def rule_line(lang: str, number: int, rule: m.Rule) -> str:
    """One line of /rules: number, name and query, and the delivery when it is the rule's own."""
    own = f" · {esc(label(lang, f'delivery_{rule.delivery}_btn'))}" if rule.delivery else ""
    return f"{number}. {rule_title(rule)}{own}"


async def numbered(ctx: CommandContext, req: Request, arg: str) -> tuple[int, m.Rule] | Reply:
    """The rule numbered `arg` in this chat's /rules list, or the reply that says it is not there."""
    if req.subscriber is None:
        return Reply(t(req.lang, "rules_empty"))
    async with ctx.db.uow(read_only=True) as session:
        items = await rules_of(session, req.subscriber.id)
    number = as_int(arg)
    if number is None or not 1 <= number <= len(items):
        if not items:
            return Reply(t(req.lang, "rules_empty"))
        return Reply(t(req.lang, "rule_number_unknown", value=clip(arg, 40), count=plural(req.lang, "rules_n", len(items))))
    return number, items[number - 1]


def card(ctx: CommandContext, lang: str, number: int, rule: m.Rule, frequency: str, page: int) -> Reply:
    """The rule's screen: what it is, how it is delivered, and buttons to change both."""
    text = t(lang, "rule_card", number=number, name=rule.name or "—", rule=clip(rule.source, 300),
             delivery=delivery_label(lang, rule.delivery, frequency))
    choices = [
        Button(("✓ " if rule.delivery == value else "") + delivery_label(lang, value, frequency),
               f"r:dl:{rule.id}:{code}:{page}")
        for code, value in CODES.items()
    ]
    rows = (
        (choices[0], choices[1]),
        tuple(choices[2:]),
        (Button(label(lang, "rename_btn"), f"r:nm:{rule.id}"), Button(label(lang, "delete_rule_btn"),
                                                                       f"r:del:{rule.id}:{page}")),
        (Button(label(lang, "back_btn"), f"r:page:{page}"),),
    )
    return Reply(text + "\n" + t(lang, "rule_card_hint", number=number), rows)


async def open_card(ctx: CommandContext, req: Request, rule_id: int, page: int, toast: str | None = None) -> Reply:
    if req.subscriber is None:
        return Reply("", toast=t(req.lang, "rule_gone"), alert=True)
    async with ctx.db.uow(read_only=True) as session:
        items = await rules_of(session, req.subscriber.id)
        frequency = req.subscriber.frequency
    found = next(((n, r) for n, r in enumerate(items, 1) if r.id == rule_id), None)
    if found is None:
        return Reply("", toast=t(req.lang, "rule_gone"), alert=True)
    screen = card(ctx, req.lang, found[0], found[1], frequency, page)
    return Reply(screen.text, screen.buttons, toast=toast)


async def set_delivery(ctx: CommandContext, req: Request, rule_id: int, value: Delivery) -> str | None:
    """Store the rule's delivery; None when the rule is not this chat's. Unmuting starts the rule's
    stream from now: what matched while it was muted is not sent (bot/digest/streams.py)."""
    if req.subscriber is None:
        return None
    async with ctx.db.uow() as session:
        sub = await lock_subscriber(session, req.caller.chat_id)  # waits for a digest being built
        rule = await rule_of(session, req.subscriber.id, rule_id) if sub is not None else None
        if rule is None or sub is None:
            return None
        if rule.delivery == Delivery.MUTED and value != Delivery.MUTED:
            rule.delivered_until = ctx.now()
        rule.delivery = value.value
        return delivery_label(req.lang, value, sub.frequency)


async def on_delivery_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    """r:dl:<rule id>:<code>:<page>"""
    rule_id = as_int(parts[0]) if parts else None
    value = CODES.get(parts[1]) if len(parts) > 1 else None
    if rule_id is None or value is None:
        return Reply("", toast=t(req.lang, "button_stale"))
    shown = await set_delivery(ctx, req, rule_id, value)
    if shown is None:
        return Reply("", toast=t(req.lang, "rule_gone"), alert=True)
    page = (as_int(parts[2]) if len(parts) > 2 else None) or 0
    return await open_card(ctx, req, rule_id, page, toast=label(req.lang, "delivery_set_toast", delivery=shown))


async def delivery(ctx: CommandContext, req: Request) -> Reply:
    """/delivery N MODE"""
    number_arg, _, word = " ".join(req.args.split()).partition(" ")
    if not number_arg:
        return Reply(t(req.lang, "delivery_usage"))
    found = await numbered(ctx, req, number_arg)
    if isinstance(found, Reply):
        return found
    number, rule = found
    value = WORDS.get(word.casefold().strip())
    if value is None:
        return Reply(t(req.lang, "delivery_unknown", value=clip(word, 40) or "—", number=number))
    shown = await set_delivery(ctx, req, rule.id, value)
    if shown is None:
        return Reply(t(req.lang, "rule_gone"))
    return Reply(t(req.lang, "delivery_set", number=number, delivery=shown))


def clean_name(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


async def _rename(ctx: CommandContext, req: Request, rule_id: int, name: str) -> Reply:
    if len(name) > NAME_LIMIT:
        return Reply(t(req.lang, "name_too_long", limit=NAME_LIMIT))
    if req.subscriber is None:
        return Reply(t(req.lang, "rule_gone"))
    async with ctx.db.uow() as session:
        rule = await rule_of(session, req.subscriber.id, rule_id)
        if rule is None:
            return Reply(t(req.lang, "rule_gone"))
        rule.name = name
        source = rule.source
    key = N_("name_set") if name else N_("name_cleared")
    return Reply(t(req.lang, key, name=name, rule=clip(source, 200)),
                 ((Button(label(req.lang, "my_rules_btn"), "r:page:0"),),))


async def name(ctx: CommandContext, req: Request) -> Reply:
    """/name N NAME (no name: the name is cleared)."""
    number_arg, _, text = req.args.strip().partition(" ")
    if not number_arg:
        return Reply(t(req.lang, "name_usage"))
    found = await numbered(ctx, req, number_arg)
    if isinstance(found, Reply):
        return found
    return await _rename(ctx, req, found[1].id, clean_name(text))


async def name_input(ctx: CommandContext, req: Request) -> Reply:
    """The plain message after ✏️ Name: the new name of the rule the button named."""
    rule_id = as_int(req.pending)
    text = clean_name(req.args)
    if rule_id is None or not text:
        return Reply(t(req.lang, "name_usage"))
    return await _rename(ctx, req, rule_id, text)


async def on_name_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    """r:nm:<rule id>: ask for the name as the next message."""
    rule_id = as_int(parts[0]) if parts else None
    if rule_id is None or req.subscriber is None:
        return Reply("", toast=t(req.lang, "button_stale"))
    async with ctx.db.uow(read_only=True) as session:
        rule = await rule_of(session, req.subscriber.id, rule_id)
    if rule is None:
        return Reply("", toast=t(req.lang, "rule_gone"), alert=True)
    ctx.pending.expect(req.caller, f"name:{rule.id}")
    return Reply(t(req.lang, "name_ask", rule=clip(rule.source, 200), limit=NAME_LIMIT), edit=False)
