"""The Starlette application: routes, sign-in by a link from the bot, sign-out, static files."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.commands import CommandContext, access
from bot.config import Settings
from bot.domain import Clock
from bot.i18n import N_, known_language
from bot.storage import access as stored_access
from bot.storage.database import Database
from bot.web import admin, feeds, notify, pages
from bot.web.context import COOKIE, HERE, WebState, make_templates, page, render, see_other, state, viewer_of


async def index(request: Request) -> Response:
    viewer = await viewer_of(request)
    if viewer is None:
        return render(request, "signin.html", viewer=None)
    return see_other("/timeline" if viewer.subscriber is not None or not viewer.admin else "/admin/channels")


def _same_origin(request: Request) -> bool:
    """A POST from a page of ours: its Origin (when the browser sends one) is our own address."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    base = state(request).settings.web.base_url
    ours = {f"{request.url.scheme}://{request.url.netloc}"}
    if base:
        parts = urlsplit(base)
        ours.add(f"{parts.scheme}://{parts.netloc}")
    return origin in ours


async def _link_language(web: WebState, token: str) -> str | None:
    """The bot language of the subscriber a live sign-in link was made for (None: unknown or used)."""
    raw = access.unsign(web.key, "login", token)
    if raw is None:
        return None
    async with web.db.uow(read_only=True) as session:
        lang = await stored_access.login_language(session, access.token_hash(raw), web.now())
    return known_language(lang) if lang else None


async def login(request: Request) -> Response:
    web = state(request)
    token = str(request.path_params.get("token", ""))
    if len(token) > 200 or access.unsign(web.key, "login", token) is None:
        return render(request, "error.html", status=404, viewer=None,
                      message=N_("web_err_link_invalid"))
    if request.method == "GET":
        # a page with a button, not a sign-in: Telegram's link preview and mail scanners open links,
        # and would use up a single-use link. In the language of the chat that asked for the link.
        return render(request, "login.html", viewer=None, token=token, lang=await _link_language(web, token))
    if not _same_origin(request):
        return render(request, "error.html", status=403, viewer=None, message=N_("web_err_sign_in_from_link"))
    opened = await access.redeem_login(web.db, web.key, token, web.now(), days=web.settings.web.session_days,
                                       user_agent=request.headers.get("user-agent", ""))
    if opened is None:
        return render(request, "error.html", status=410, viewer=None,
                      message=N_("web_err_link_used"))
    cookie, _ = opened
    response = see_other("/")
    response.set_cookie(COOKIE, cookie, max_age=int(web.settings.web.session_days * 86400), httponly=True,
                        samesite="lax", secure=web.settings.web.secure, path="/")
    return response


@page(subscriber=False)
async def logout(request: Request, viewer: object) -> Response:
    web = state(request)
    async with web.db.uow() as session:
        await access.revoke_sessions(session, viewer.user_id, web.now(), viewer.user.session_id)  # type: ignore[attr-defined]
    response = see_other("/")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=web.settings.web.secure)
    return response


class OriginCheck:
    """Every POST must come from our own pages (the session's form token is checked per page too)."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] == "http" and scope["method"] == "POST" and not scope["path"].startswith("/login/"):
            request = Request(scope)
            if not _same_origin(request):
                await render(request, "error.html", status=403, viewer=None,
                             message=N_("web_err_other_site"))(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)  # type: ignore[operator]


def routes() -> list[Route | Mount]:
    return [
        Route("/", index),
        Route("/login/{token}", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/timeline", pages.timeline),
        Route("/search", pages.search),
        Route("/post/{post_id}", pages.post),
        Route("/chart", pages.chart),
        Route("/rules", pages.rules_page, methods=["GET", "POST"]),
        Route("/settings", pages.settings_page, methods=["GET", "POST"]),
        Route("/sessions", pages.sessions_page, methods=["GET", "POST"]),
        Route("/feeds", pages.feeds_page, methods=["GET", "POST"]),
        Route("/notify", notify.notify_page, methods=["GET", "POST"]),
        Route("/feed/{token}.atom", feeds.atom),
        Route("/admin/channels", admin.channels),
        Route("/admin/accounts", admin.accounts),
        Route("/admin/delivery", admin.delivery),
        Route("/admin/subscribers", admin.subscribers),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


async def create_web_app(db: Database, settings: Settings, clock: Clock, commands: CommandContext) -> Starlette:
    """The web view over `db`. `commands` runs rule and settings changes, as the bot does."""
    from starlette.middleware import Middleware

    web = WebState(db=db, settings=settings, clock=clock, key=await access.signing_key(db, settings),
                   templates=make_templates(), commands=commands)
    app = Starlette(routes=routes(), middleware=[Middleware(OriginCheck)])  # type: ignore[arg-type]
    app.state.web = web

    async def missing(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", status=404, viewer=None, message=N_("web_err_no_page"))

    app.add_exception_handler(404, missing)
    return app
