"""/notify: a chat's alerts and digests also (or only) to e-mail, Slack, Discord, Matrix, ntfy or a webhook.

    /notify                           the chat's targets, numbered (masked: scheme and host only)
    /notify add URL [N | #ID | all] [also | only]
    /notify remove N    /notify test N
    /notify stats                     admins: how many targets, by service, and their queue
    /notify for CHAT_ID ...           admins: the same commands for another chat

N is a rule's number as /rules lists it; an admin may name any subscriber's rule by its id (#ID),
and the target then belongs to that rule's owner. The URL is a secret: it goes to bot/notify
(validated by apprise, stored sealed) and never into a reply or a log.
"""

from __future__ import annotations

from dataclasses import replace

from bot.commands.context import CommandContext, Request
from bot.commands.render import as_int, clip
from bot.commands.types import Reply
from bot.i18n import Html, t
from bot.notify import targets
from bot.storage.rules import get_subscriber, rules_of

ALL = ("all", "все", "всі")
MODES = {"also": "also", "тоже": "also", "також": "also", "only": "only", "только": "only", "лише": "only"}


def _is_admin(ctx: CommandContext, req: Request) -> bool:
    return req.caller.user_id in ctx.settings.bot.admins


async def notify(ctx: CommandContext, req: Request) -> Reply:
    action, _, rest = req.args.strip().partition(" ")
    action = action.lower()
    if action in ("stats", "статистика") and _is_admin(ctx, req):
        return await _stats(ctx, req)
    if action in ("for", "для") and _is_admin(ctx, req):
        return await _for_chat(ctx, req, rest)
    if req.subscriber is None:
        return Reply(t(req.lang, "not_registered"))
    if action in ("", "list", "список"):
        return await _list(ctx, req)
    if action in ("add", "добавить", "додати"):
        return await _add(ctx, req, rest.split())
    if action in ("remove", "delete", "удалить", "видалити"):
        return await _remove(ctx, req, rest.strip())
    if action in ("test", "тест"):
        return await _test(ctx, req, rest.strip())
    return Reply(t(req.lang, "notify_usage"))


async def _for_chat(ctx: CommandContext, req: Request, rest: str) -> Reply:
    """An admin acts on another chat's targets: /notify for CHAT_ID [add URL ... | remove N | test N]."""
    chat, _, command = rest.strip().partition(" ")
    chat_id = as_int(chat)
    if chat_id is None:
        return Reply(t(req.lang, "notify_usage"))
    async with ctx.db.uow(read_only=True) as session:
        other = await get_subscriber(session, chat_id)
    if other is None:
        return Reply(t(req.lang, "notify_no_chat", chat=chat_id))
    return await notify(ctx, replace(req, args=command, subscriber=other))


def _line(req: Request, view: targets.TargetView) -> Html:
    scope = (t(req.lang, "notify_scope_rule", rule=clip(view.rule_name or "?", 60)) if view.rule_id is not None
             else t(req.lang, "notify_scope_all"))
    mode = t(req.lang, "notify_mode_only") if view.mode == "only" else t(req.lang, "notify_mode_also")
    return Html(t(req.lang, "notify_line", number=view.number, target=view.masked, scope=Html(scope), mode=Html(mode)))


async def _list(ctx: CommandContext, req: Request) -> Reply:
    assert req.subscriber is not None
    views = await targets.list_targets(ctx.db, req.subscriber.id)
    if not views:
        return Reply(t(req.lang, "notify_empty"))
    lines = [t(req.lang, "notify_list_header", count=len(views)), *(_line(req, v) for v in views)]
    lines.append(t(req.lang, "notify_list_footer"))
    return Reply("\n".join(lines))


async def _add(ctx: CommandContext, req: Request, words: list[str]) -> Reply:
    assert req.subscriber is not None
    if not words or len(words) > 3:
        return Reply(t(req.lang, "notify_usage"))
    url, extra = words[0], [w.lower() for w in words[1:]]
    mode = "also"
    if extra and extra[-1] in MODES:
        mode = MODES[extra.pop()]
    rule_id: int | None = None
    if extra:
        which = extra[0]
        if len(extra) > 1:
            return Reply(t(req.lang, "notify_usage"))
        if which.startswith("#") and as_int(which[1:]) is not None:
            rule_id = as_int(which[1:])  # a rule's id: an admin may name anyone's; checked below
        elif which not in ALL:
            number = as_int(which)
            async with ctx.db.uow(read_only=True) as session:
                rules = await rules_of(session, req.subscriber.id)
            if number is None or not 1 <= number <= len(rules):
                return Reply(t(req.lang, "notify_bad_rule", count=len(rules)))
            rule_id = rules[number - 1].id
    try:
        view = await targets.add_target(ctx.db, ctx.settings, req.subscriber.id, url, rule_id=rule_id, mode=mode,
                                        now=ctx.now(), admin=_is_admin(ctx, req))
    except targets.NotifyError as exc:
        return Reply(_error(req, exc))
    return Reply(t(req.lang, "notify_added", line=_line(req, view), number=view.number))


def _error(req: Request, exc: targets.NotifyError) -> str:
    if exc.code == "bad_url":
        return t(req.lang, "notify_bad_url")
    if exc.code == "no_rule":
        return t(req.lang, "notify_no_rule")
    if exc.code == "too_many":
        return t(req.lang, "notify_too_many", limit=exc.params.get("limit", 0))
    if exc.code == "duplicate":
        return t(req.lang, "notify_duplicate", target=str(exc.params.get("masked", "")))
    if exc.code == "no_target":
        return t(req.lang, "notify_no_target")
    return t(req.lang, "notify_usage")


async def _remove(ctx: CommandContext, req: Request, arg: str) -> Reply:
    assert req.subscriber is not None
    number = as_int(arg)
    if number is None:
        return Reply(t(req.lang, "notify_no_target"))
    view = await targets.remove_target(ctx.db, req.subscriber.id, number, now=ctx.now())
    if view is None:
        return Reply(t(req.lang, "notify_no_target"))
    return Reply(t(req.lang, "notify_removed", target=view.masked))


async def _test(ctx: CommandContext, req: Request, arg: str) -> Reply:
    assert req.subscriber is not None
    number = as_int(arg)
    if number is None:
        return Reply(t(req.lang, "notify_no_target"))
    try:
        reason = await targets.test_target(ctx.db, ctx.settings, req.subscriber.id, number,
                                           t(req.lang, "notify_test_message"))
    except targets.NotifyError as exc:
        return Reply(_error(req, exc))
    if reason is not None:
        return Reply(t(req.lang, "notify_test_failed", reason=clip(reason, 300)))
    return Reply(t(req.lang, "notify_test_ok", number=number))


async def _stats(ctx: CommandContext, req: Request) -> Reply:
    counts = await targets.counts(ctx.db)
    services = ", ".join(f"{scheme} {n}" for scheme, n in sorted(counts.by_scheme.items())) or "—"
    return Reply(t(req.lang, "notify_stats", targets=counts.targets, subscribers=counts.subscribers,
                   services=services, queued=counts.queued, failed=counts.failed))
