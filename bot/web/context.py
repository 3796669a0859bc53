"""What every page handler uses: the app's parts, the templates, and who is asking (`Viewer`).

Pages speak the viewer's language: their subscriber's bot language, else (the sign-in page, an admin
who never subscribed) the browser's Accept-Language. Templates take their text from the bot's gettext
catalogs (bot/i18n) by key: `tr(key, **values)` and `trn(key_n, count)`.

A viewer comes from the session cookie alone. Every subscriber page reads the viewer's own
subscriber row (their private chat with the bot: chat id = Telegram user id) and passes its id to
queries that are scoped by it; an id in a URL is never trusted without that scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.commands import CommandContext, access
from bot.config import Settings
from bot.domain import Clock
from bot.i18n import CLOSE_LANGUAGES, LANGUAGES, N_, Html, known_language, language_for, plural, t
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.rules import get_subscriber
from bot.web import filters

COOKIE = "tgmon_session"
HERE = Path(__file__).parent


@dataclass
class WebState:
    db: Database
    settings: Settings
    clock: Clock
    key: bytes  # signs sign-in links and form tokens (bot/commands/access.py)
    templates: Environment
    commands: CommandContext  # rule and settings changes go through the bot's own commands

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)


def make_templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html", "xml", "svg"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(filters.ALL)
    return env


@dataclass(frozen=True, slots=True)
class Viewer:
    user: access.WebUser
    subscriber: m.Subscriber | None  # a detached snapshot; None: this Telegram user never sent /start
    admin: bool
    csrf: str

    @property
    def user_id(self) -> int:
        return self.user.user_id

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.subscriber.timezone if self.subscriber else "UTC")

    @property
    def lang(self) -> str:
        """The subscriber's bot language; "" for a viewer who never subscribed (the browser's is used)."""
        return known_language(self.subscriber.language) if self.subscriber else ""


def browser_language(header: str | None) -> str:
    """The first language of an Accept-Language header (by its q values) that we have a catalog for,
    or a close one (be -> ru); English when none is."""
    asked: list[tuple[float, int, str]] = []
    for n, part in enumerate((header or "")[:500].split(",")):
        code, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code and q > 0:
            asked.append((-q, n, code))
    for _, _, code in sorted(asked):
        base = code.lower().replace("_", "-").split("-", 1)[0]
        if base in LANGUAGES or base in CLOSE_LANGUAGES:
            return language_for(code)
    return "en"


def page_language(request: Request, viewer: Viewer | None) -> str:
    if viewer is not None and viewer.lang:
        return viewer.lang
    return browser_language(request.headers.get("accept-language"))


def texts(lang: str) -> dict[str, Any]:
    """The template globals of one language: `tr` (a catalog text, HTML written by us, each value
    escaped) and `trn` (a counted phrase, plain text, escaped)."""

    def tr(key: str, **values: object) -> Markup:
        safe = {k: Html(str(v)) if isinstance(v, Markup) else v for k, v in values.items()}
        return Markup(t(lang, key, **safe))

    def trn(key: str, count: int, **values: object) -> Markup:
        return escape(plural(lang, key, int(count), **values))

    return {"lang": lang, "tr": tr, "trn": trn}


def state(request: Request) -> WebState:
    return request.app.state.web  # type: ignore[no-any-return]


async def viewer_of(request: Request) -> Viewer | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > 100:
        return None
    web = state(request)
    now = web.now()
    async with web.db.uow(read_only=True) as session:  # one transaction: the session and its subscriber
        user = await access.find_session(session, cookie, now)
        if user is None:
            return None
        sub = await get_subscriber(session, user.user_id)
    await access.seen(web.db, user, now)
    return Viewer(user, sub, user.user_id in web.settings.bot.admins, access.form_token(web.key, user.session_hash))


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """The page `name` in the viewer's language (or `lang`, when given). An error page's `message` is a
    catalog key."""
    web = state(request)
    template = web.templates.get_template(name)
    lang = values.pop("lang", None) or page_language(request, values.get("viewer"))
    body = template.render(request=request, path=request.url.path, **texts(lang), **values)
    response = HTMLResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
    return response


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def page(*, admin: bool = False, subscriber: bool = True) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A signed-in page. Nobody: the sign-in page (GET) or 403 (POST). A POST must carry the session's
    form token. An admin page answers 404 to everyone but the admins (it does not say it exists).
    `subscriber`: the page needs the viewer's subscriber row (else a page saying to send /start)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def run(request: Request) -> Response:
            viewer = await viewer_of(request)
            if viewer is None:
                if request.method == "GET":
                    return render(request, "signin.html", status=401, viewer=None)
                return render(request, "error.html", status=403, viewer=None, message=N_("web_err_sign_in_first"))
            if request.method == "POST":
                form = await request.form()
                if form.get("csrf") != viewer.csrf:
                    return render(request, "error.html", status=403, viewer=viewer,
                                  message=N_("web_err_form_token"))
            if admin and not viewer.admin:
                return render(request, "error.html", status=404, viewer=viewer, message=N_("web_err_no_page"))
            if subscriber and not admin and viewer.subscriber is None:
                return render(request, "nosubscriber.html", viewer=viewer)
            return await handler(request, viewer)

        return run

    return wrap


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def not_found(request: Request, viewer: Viewer | None, message: str = "web_err_no_page") -> HTMLResponse:
    return render(request, "error.html", status=404, viewer=viewer, message=message)
