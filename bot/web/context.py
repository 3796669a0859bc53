"""What every page handler uses: the app's parts, the templates, and who is asking (`Viewer`).

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
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.commands import CommandContext, access
from bot.config import Settings
from bot.domain import Clock
from bot.storage import models as m
from bot.storage.database import Database
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
        return self.subscriber.language if self.subscriber else "en"


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
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == user.user_id))
    await access.seen(web.db, user, now)
    return Viewer(user, sub, user.user_id in web.settings.bot.admins, access.form_token(web.key, user.session_hash))


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    web = state(request)
    template = web.templates.get_template(name)
    body = template.render(request=request, path=request.url.path, **values)
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
                return render(request, "error.html", status=403, viewer=None, message="Sign in first: send /web to the bot.")
            if request.method == "POST":
                form = await request.form()
                if form.get("csrf") != viewer.csrf:
                    return render(request, "error.html", status=403, viewer=viewer,
                                  message="This form is out of date. Go back, reload the page and try again.")
            if admin and not viewer.admin:
                return render(request, "error.html", status=404, viewer=viewer, message="No such page.")
            if subscriber and not admin and viewer.subscriber is None:
                return render(request, "nosubscriber.html", viewer=viewer)
            return await handler(request, viewer)

        return run

    return wrap


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def not_found(request: Request, viewer: Viewer | None, message: str = "No such page.") -> HTMLResponse:
    return render(request, "error.html", status=404, viewer=viewer, message=message)
