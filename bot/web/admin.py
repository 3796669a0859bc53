"""The admins' pages (settings.bot.admins): channel health, accounts, delivery, subscriber counts.
No message text and no subscriber's rules or matches appear here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bot.i18n import N_
from bot.ingest.accounts import stale_after
from bot.storage import accounts as stored_accounts
from bot.storage import outbox as stored_outbox
from bot.storage import stats
from bot.web.context import Viewer, page, render, state

# the words for the stored states (an unknown one is shown as stored)
CHANNEL_STATUS = {"active": N_("web_channel_active"), "pending": N_("web_channel_pending"),
                  "removed": N_("web_channel_removed")}
OUTBOX_STATE = {"pending": N_("web_outbox_pending"), "sending": N_("web_outbox_sending"), "sent": N_("web_outbox_sent"),
                "uncertain": N_("web_outbox_uncertain"), "failed": N_("web_outbox_failed")}


@page(admin=True)
async def channels(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    now = web.now()
    async with web.db.uow(read_only=True) as session:
        rows = await stats.channel_health(session, now)
    failing = sum(1 for r in rows if r.channel.error)
    return render(request, "admin_channels.html", viewer=viewer, rows=rows, now=now, failing=failing,
                  status_key=CHANNEL_STATUS)


@page(admin=True)
async def accounts(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    now = web.now()
    stale = stale_after(web.settings.ingest.gap_fill_minutes)
    async with web.db.uow(read_only=True) as session:
        rows = await stored_accounts.with_channel_counts(session)
        free = await stats.unassigned_channels(session)
    return render(request, "admin_accounts.html", viewer=viewer, rows=rows, now=now, stale=stale, free=free,
                  configured=web.settings.telegram.account_names)


@page(admin=True)
async def delivery(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    async with web.db.uow(read_only=True) as session:
        table = await stored_outbox.state_counts(session)
        failures = await stats.delivery_failures(session)
        workers = await stats.delivery_workers(session)
    states = sorted({s for s, _ in table})
    kinds = sorted({k for _, k in table})
    return render(request, "admin_delivery.html", viewer=viewer, states=states, kinds=kinds, table=table,
                  failures=failures, workers=workers, now=web.now(), state_key=OUTBOX_STATE)


@page(admin=True)
async def subscribers(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    async with web.db.uow(read_only=True) as session:
        counts = await stats.subscriber_counts(session, web.now())
    return render(request, "admin_subscribers.html", viewer=viewer, counts=counts)
