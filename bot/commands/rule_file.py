"""A chat's rules and settings as a file (`/export rules`), and that file sent back as a document
(an import): to move a rule set to another chat or share it.

The file is JSON (UTF-8):

    {"tgmon": "rules", "version": 1, "exported": "2026-12-03T11:30:00+00:00",
     "settings": {"timezone": "Europe/Moscow", "frequency": "daily", "time": "09:00",
                  "day": "1", "quiet": "22:00-07:00", "size": "10"},
     "rules": [{"rule": "обстрел*", "name": "Обстрелы", "delivery": "instant"}, {"rule": "батальон"}]}

`settings` is optional and every key in it too (values in the forms `/settings NAME VALUE` takes,
checked by the same code; `"language": "en"` is taken too, but not written: a shared file should not
switch the reader's language); a rule needs only `rule`. An import is all or nothing: every entry is
checked first (a rule as `/watch` checks it, the chat's quotas with the rules it keeps), each bad
one gets its own line, and nothing changes unless all are good. Rules the chat already has (or a
file repeats) are skipped and counted. A new rule's matches among the last days' posts are recorded
as `/watch` records them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.commands.context import CommandContext, Request
from bot.commands.render import clip
from bot.commands.rule_edit import NAME_LIMIT, WORDS, clean_name
from bot.commands.rules import _checked, _dry_run, _parse_quietly, _rule_error
from bot.commands.settings_menu import hhmm, typed_setting
from bot.commands.types import Reply
from bot.i18n import LANGUAGES, Html, plural, t
from bot.matching import ParsedRule, RuleError
from bot.matching.quota import RuleQuota
from bot.storage import models as m
from bot.storage.rules import add_rules, ensure_subscriber, rules_of

FORMAT, VERSION = "rules", 1
MAX_BYTES = 256 * 1024  # a file of 50 rules is a few kB
MAX_ERRORS = 15  # lines of errors shown; the count says how many more
SETTING_KEYS = ("language", "timezone", "frequency", "time", "day", "quiet", "size")
_TYPED_NAME = {"timezone": "tz", "frequency": "frequency", "time": "time", "day": "day", "quiet": "quiet",
               "size": "size"}


def build(sub: m.Subscriber, rules: list[m.Rule], now: datetime) -> bytes:
    quiet = ("off" if sub.quiet_start is None or sub.quiet_end is None
             else f"{hhmm(sub.quiet_start)}-{hhmm(sub.quiet_end)}")
    data = {
        "tgmon": FORMAT,
        "version": VERSION,
        "exported": now.isoformat(timespec="seconds"),
        "settings": {
            "timezone": sub.timezone, "frequency": sub.frequency,
            "time": hhmm(sub.digest_hour * 60 + sub.digest_minute), "day": str(sub.digest_weekday + 1),
            "quiet": quiet, "size": str(sub.digest_size or "all"),
        },
        "rules": [
            {"rule": r.source, **({"name": r.name} if r.name else {}),
             "delivery": r.delivery or "default"}
            for r in rules
        ],
    }
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


@dataclass(frozen=True, slots=True)
class NewRule:
    source: str
    name: str
    delivery: str
    scope: list[str]


@dataclass
class Checked:
    rules: list[NewRule]
    skipped: int
    settings: list[tuple[str, Any]]  # (label, change)
    errors: list[str]  # HTML lines


def _number(n: int) -> str:
    return f"#{n}"


def check(ctx: CommandContext, lang: str, data: bytes, kept: list[m.Rule]) -> Checked | str:
    """Everything in the file checked against the chat's `kept` rules: a Checked (its `errors`
    empty when it may be applied), or the one line that says why the file is not a rules file."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return t(lang, "import_not_utf8")
    except json.JSONDecodeError as err:
        return t(lang, "import_not_json", line=err.lineno, column=err.colno)
    if not isinstance(doc, dict) or doc.get("tgmon") != FORMAT:
        return t(lang, "import_not_ours")
    if doc.get("version") != VERSION:
        return t(lang, "import_version", version=clip(str(doc.get("version")), 20), supported=VERSION)
    out = Checked([], 0, [], [])
    _check_settings(lang, doc.get("settings", {}), out)
    rules = doc.get("rules", [])
    if not isinstance(rules, list):
        out.errors.append(t(lang, "import_rules_not_list"))
        return out
    seen = {r.source.casefold() for r in kept}
    parsed_kept: list[ParsedRule | None] = [_parse_quietly(r.source) for r in kept]
    quota = RuleQuota.when_matching(ctx.settings.matching)  # /patterns/ per entry; the rule count at the end
    for n, entry in enumerate(rules, 1):
        item = _check_rule(ctx, lang, n, entry)
        if isinstance(item, str):
            out.errors.append(item)
            continue
        rule, parsed = item
        if rule.source.casefold() in seen:
            out.skipped += 1
            continue
        refusal = quota.refusal(parsed_kept, parsed)
        if refusal is not None:
            key, limit = refusal
            out.errors.append(t(lang, "import_rule_error", number=_number(n), rule=clip(rule.source, 80),
                                error=Html(t(lang, key, limit=limit))))
            continue
        seen.add(rule.source.casefold())
        parsed_kept.append(parsed)
        out.rules.append(rule)
    return out


def _check_settings(lang: str, settings: object, out: Checked) -> None:
    if not isinstance(settings, dict):
        out.errors.append(t(lang, "import_settings_not_object"))
        return
    for key, value in settings.items():
        if key not in SETTING_KEYS:
            out.errors.append(t(lang, "import_setting_unknown", name=clip(str(key), 30), known=", ".join(SETTING_KEYS)))
            continue
        if not isinstance(value, str | int) or isinstance(value, bool):
            out.errors.append(t(lang, "import_setting_bad", name=key, value=clip(json.dumps(value), 40)))
            continue
        text = str(value).strip()
        if key == "language":
            if text not in LANGUAGES:
                out.errors.append(t(lang, "import_setting_bad", name=key, value=clip(text, 40)))
            else:
                out.settings.append((key, lambda sub, code=text: setattr(sub, "language", code)))
            continue
        error, change = typed_setting(_TYPED_NAME[key], text)
        if change is None:
            out.errors.append(t(lang, "import_setting_error", name=key,
                                error=Html(t(lang, error, value=clip(text, 60), name=key))))
        else:
            out.settings.append((key, change))


def _check_rule(ctx: CommandContext, lang: str, n: int, entry: object) -> tuple[NewRule, ParsedRule] | str:
    if isinstance(entry, str):
        entry = {"rule": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str) or not entry["rule"].strip():
        return t(lang, "import_rule_shape", number=_number(n))
    source = " ".join(entry["rule"].split())
    unknown = sorted(set(entry) - {"rule", "name", "delivery"})
    if unknown:
        return t(lang, "import_rule_field", number=_number(n), rule=clip(source, 80), field=clip(unknown[0], 30))
    name = entry.get("name", "")
    if not isinstance(name, str) or len(clean_name(name)) > NAME_LIMIT:
        return t(lang, "import_rule_error", number=_number(n), rule=clip(source, 80),
                 error=Html(t(lang, "name_too_long", limit=NAME_LIMIT)))
    delivery = entry.get("delivery", "default")
    value = WORDS.get(delivery.casefold().strip()) if isinstance(delivery, str) else None
    if value is None:
        return t(lang, "import_rule_error", number=_number(n), rule=clip(source, 80),
                 error=Html(t(lang, "delivery_unknown", value=clip(str(delivery), 40), number=n)))
    try:
        parsed = _checked(source, ctx)
    except RuleError as err:
        return t(lang, "import_rule_error", number=_number(n), rule=clip(source, 80), error=Html(_rule_error(lang, err).replace("\n", " ")))
    scope = [str(c) for c in getattr(parsed, "channels", ())]
    return NewRule(source, clean_name(name), value.value, scope), parsed


def _refusal(ctx: CommandContext, lang: str, result: Checked | str, kept: int) -> Checked | Reply:
    """The checked file, or the reply that lists what is wrong with it (nothing is changed then)."""
    if isinstance(result, str):
        return Reply(result)
    if not result.errors and kept + len(result.rules) > ctx.settings.bot.max_rules:
        result.errors.append(t(lang, "import_quota", limit=ctx.settings.bot.max_rules, kept=kept,
                               new=len(result.rules)))
    if not result.errors:
        return result
    shown = result.errors[:MAX_ERRORS]
    lines = [t(lang, "import_refused", count=len(result.errors)), *shown]
    if len(result.errors) > len(shown):
        lines.append(t(lang, "import_more_errors", count=len(result.errors) - len(shown)))
    return Reply("\n".join(lines))


def document_refusal(lang: str, name: str, size: int) -> Reply | None:
    """Why a document sent to the bot is not even downloaded: too big, or not a .json file."""
    if size > MAX_BYTES:
        return Reply(t(lang, "import_too_big", limit=MAX_BYTES // 1024))
    if not name.lower().endswith(".json"):
        return Reply(t(lang, "import_not_json_name", name=clip(name, 60) or "—"))
    return None


async def import_help(ctx: CommandContext, req: Request) -> Reply:
    """/import typed without a file."""
    return Reply(t(req.lang, "import_usage"))


async def import_file(ctx: CommandContext, req: Request, data: bytes) -> Reply:
    """A document sent to the bot: a rules file to import (module doc)."""
    if len(data) > MAX_BYTES:
        return Reply(t(req.lang, "import_too_big", limit=MAX_BYTES // 1024))
    kept: list[m.Rule] = []
    if req.subscriber is not None:
        async with ctx.db.uow(read_only=True) as session:
            kept = await rules_of(session, req.subscriber.id)
    refused = _refusal(ctx, req.lang, check(ctx, req.lang, data, kept), len(kept))
    if isinstance(refused, Reply):
        return refused
    async with ctx.db.uow() as session:
        sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
        kept = await rules_of(session, sub.id)  # again, in the writing transaction
        result = _refusal(ctx, req.lang, check(ctx, req.lang, data, kept), len(kept))
        if isinstance(result, Reply):
            return result  # the chat changed meanwhile; nothing is written
        for _label, change in result.settings:
            change(sub)
        added = [m.Rule(subscriber_id=sub.id, name=rule.name, source=rule.source, channels=rule.scope,
                        delivery=rule.delivery) for rule in result.rules]
        await add_rules(session, added)
        ids = [(row.id, row.source) for row in added]
        tz = sub.timezone
        lang = sub.language
    if ids:
        await ctx.notify_rules_changed()
        for rule_id, source in ids:  # the last days' matches, as /watch records them (the reply is short)
            await _dry_run(ctx, lang, source, tz, rule_id)
    return Reply(t(lang, "import_done", added=plural(lang, "rules_n", len(ids)), skipped=result.skipped, settings=len(result.settings)))

