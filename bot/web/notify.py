"""The page of a subscriber's notification targets (the bot's /notify): list, add, test, remove.

Every action is bot/notify/targets.py, the service /notify calls, with the same checks and limits
(apprise validates the URL, `notify.max_targets`, no duplicate); a rule or a target is named by its
id and looked for among the viewer's own only. The URL travels only in the add form's POST body: it
is never put back into a page (the list shows the masked form), a URL, or a log line.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bot.commands.render import as_int
from bot.i18n import N_, t
from bot.notify import targets
from bot.storage.rules import rules_of
from bot.web.context import Viewer, page, render, state

MAX_URL = 2000  # longer than any service's URL; more is refused before apprise reads it

ERRORS = {  # the service's NotifyError codes, as the page words them
    "bad_url": N_("web_notify_bad_url"),
    "bad_mode": N_("web_notify_bad_form"),
    "no_rule": N_("web_err_no_rule"),
    "too_many": N_("web_notify_too_many"),
    "duplicate": N_("notify_duplicate"),
    "no_target": N_("web_notify_no_target"),
}
NOT_FOUND = {"no_rule", "no_target"}  # an id that is not among the viewer's: 404, as on the other pages


def _id(value: object) -> int | None:
    """A form's id field: digits only (a negative or over-long id names nothing)."""
    number = as_int(str(value or ""))
    return number if number is not None and number >= 0 else None


@page()
async def notify_page(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    sub_id = viewer.subscriber.id
    lang = viewer.lang
    notice: str | None = None
    error: str | None = None
    status = 200
    if request.method == "POST":
        form = await request.form()
        action = str(form.get("action", ""))
        try:
            if action == "add":
                rule_field = str(form.get("rule_id", "")).strip()
                rule_id = _id(rule_field)
                if rule_field and rule_id is None:
                    raise targets.NotifyError("no_rule")
                url = str(form.get("url", "")).strip()
                if len(url) > MAX_URL or not url:
                    raise targets.NotifyError("bad_url")
                # admin=False: on the web a rule is routed only by its owner, whoever is signed in
                view = await targets.add_target(web.db, web.settings, sub_id, url, rule_id=rule_id,
                                                mode=str(form.get("mode", "also")), now=web.now(), admin=False)
                notice = t(lang, "web_notify_added", target=view.masked)
            elif action in ("test", "remove"):
                target_id = _id(form.get("target_id"))
                if target_id is None:
                    raise targets.NotifyError("no_target")
                if action == "remove":
                    removed = await targets.remove_target(web.db, sub_id, None, now=web.now(), target_id=target_id)
                    if removed is None:
                        raise targets.NotifyError("no_target")
                    notice = t(lang, "notify_removed", target=removed.masked)
                else:
                    reason = await targets.test_target(web.db, web.settings, sub_id, None,
                                                       t(lang, "notify_test_message"), target_id=target_id)
                    if reason is None:
                        notice = t(lang, "web_notify_test_ok")
                    else:
                        error = t(lang, "web_notify_test_failed", reason=reason[:300])
            else:
                raise targets.NotifyError("bad_mode")
        except targets.NotifyError as exc:
            error = t(lang, ERRORS.get(exc.code, "web_notify_bad_form"),  # a text names what it needs
                      limit=exc.params.get("limit", web.settings.notify.max_targets),
                      target=exc.params.get("masked", ""))
            status = 404 if exc.code in NOT_FOUND else 400
    views = await targets.list_targets(web.db, sub_id)
    async with web.db.uow(read_only=True) as session:
        own = await rules_of(session, sub_id)
    return render(request, "notify.html", status=status, viewer=viewer, targets=views, rules=own, notice=notice,
                  error=error, limit=web.settings.notify.max_targets)

