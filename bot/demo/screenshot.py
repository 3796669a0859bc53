"""Draw a digest as a subscriber sees it on a phone: `python -m bot.demo.screenshot [--out DIR]`.

The sample export is replayed through the real pipeline into a scratch SQLite database; the demo
subscriber's weekly digest (with its chart) and an instant alert are built by the real builder; each
message goes through Telethon's HTML parser (what Telegram receives) and back to HTML, is laid out as
chat bubbles and photographed by headless Chromium (Playwright, Debian's /usr/bin/chromium) at a
phone's width. Writes digest-<lang>.png (the whole chat) and digest-<lang>-top.png (its first screen)
for each language asked for (default: en and ru). Needs Debian's chromium and fonts-noto-color-emoji.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import build_app
from bot.config import Settings
from bot.demo import DEMO_CHAT_ID, run_demo
from bot.digest.builder import build_digest, digest_title
from bot.digest.chart import weekly_chart_png
from bot.i18n import LANGUAGES, label
from bot.i18n.dates import day
from bot.storage.digests import matches_posted_between
from bot.storage.rules import get_subscriber

CHROMIUM = Path("/usr/bin/chromium")
PHONE_WIDTH = 390  # CSS pixels: a common phone; drawn at 2x
TOP = 760  # CSS pixels of the first screen
_COMMAND = re.compile(r"(^|[\s(])(/[a-z_]+)\b")
TZ = "Europe/Moscow"
CAPTION_LIMIT = 1024  # a photo's caption: a longer text goes as its own message (bot/telegram/sender.py)

_PAGE = """<!doctype html><html lang="{lang}"><meta charset="utf-8">
<style>
body {{ margin: 0; background: #c8d8c0; font: 15px/1.38 -apple-system, "Segoe UI", Roboto, "Noto Sans",
        "DejaVu Sans", sans-serif; color: #000; }}
header {{ background: #fff; padding: 10px 14px; display: flex; gap: 10px; align-items: center;
          box-shadow: 0 1px 2px #0002; }}
header .avatar {{ width: 38px; height: 38px; border-radius: 50%; background: #5aa3e3; color: #fff;
                  display: grid; place-items: center; font-weight: 600; }}
header .name {{ font-weight: 600; }} header .sub {{ color: #8a8a8a; font-size: 13px; }}
main {{ padding: 10px 8px 14px; display: flex; flex-direction: column; gap: 6px; }}
.day {{ align-self: center; background: #0000002e; color: #fff; font-size: 13px; padding: 2px 10px;
        border-radius: 12px; margin: 4px 0; }}
.bubble {{ background: #fff; border-radius: 14px 14px 14px 4px; max-width: 88%; align-self: flex-start;
           box-shadow: 0 1px 1px #0002; overflow: hidden; }}
.bubble .text {{ padding: 6px 10px 4px; white-space: pre-wrap; overflow-wrap: anywhere; }}
.bubble img {{ display: block; width: 100%; }}
.bubble .meta {{ float: right; color: #8a8a8a; font-size: 12px; margin: 6px 0 0 10px; }}
a {{ color: #168acd; text-decoration: none; }}
.button {{ align-self: flex-start; width: 88%; text-align: center; background: #0000002e; color: #fff;
           border-radius: 10px; padding: 7px 0; margin-top: -2px; font-weight: 500; }}
.mine {{ align-self: flex-end; background: #e1fec6; border-radius: 14px 14px 4px 14px; }}
</style>
<header><div class="avatar">tg</div><div><div class="name">tgmon</div><div class="sub">bot</div></div></header>
<main>{bubbles}</main></html>
"""


def bubble(message_html: str, at: str, *, image: bytes | None = None, mine: bool = False) -> str:
    """One message as a chat shows it: Telethon's parse of the HTML the bot sends, written back."""
    from bot.telegram.sender import as_shown

    picture = f'<img src="data:image/png;base64,{base64.b64encode(image).decode()}">' if image else ""
    text = as_shown(message_html) if message_html else ""
    if not mine:  # Telegram shows a /command in a bot's message as a link that sends it
        text = _COMMAND.sub(r'\1<a href="#">\2</a>', text)
    body = f'<div class="text">{text}<span class="meta">{html.escape(at)}</span></div>' if text else ""
    return f'<div class="bubble{" mine" if mine else ""}">{picture}{body}</div>'


async def build_messages(lang: str, database_url: str) -> tuple[list[str], datetime]:
    """The chat of the demo subscriber in `lang`: /digest week asked, the weekly digest with its chart,
    and an instant alert; as bubbles, with the moment they are shown at."""
    settings = Settings()
    app = await build_app(settings, database_url=database_url)
    try:
        report = await run_demo(app)
        async with app.db.uow() as session:
            sub = await get_subscriber(session, DEMO_CHAT_ID)
            assert sub is not None
            until = report.until
            since = until - timedelta(days=7)
            rows = await matches_posted_between(session, sub.id, since, until)
    finally:
        await app.close()
    zone = ZoneInfo(TZ)
    at = until.astimezone(zone)
    built = build_digest(rows, tz=TZ, title=digest_title("weekly", since, until, TZ, lang),
                         size=settings.digest.max_items, excerpt_chars=settings.digest.excerpt_chars, lang=lang)
    chart = weekly_chart_png(built.ranked, since, until, TZ, lang)
    newest = max(rows, key=lambda r: r.date)
    alert = build_digest([newest], tz=TZ, title=digest_title("instant", None, until, TZ, lang),
                         excerpt_chars=settings.digest.excerpt_chars, lang=lang, alert=True)
    clock = f"{at:%H:%M}"
    bubbles = [f'<div class="day">{html.escape(day(lang, at.date()))}</div>']
    bubbles.append(bubble("/digest week", clock, mine=True))
    first, *rest = built.chunks
    if chart is not None and len(first) <= CAPTION_LIMIT:
        bubbles.append(bubble(first, clock, image=chart))
    else:
        if chart is not None:
            bubbles.append(bubble("", clock, image=chart))
        bubbles.append(bubble(first, clock))
    bubbles.extend(bubble(chunk, clock) for chunk in rest)
    if built.more:  # the button under the digest's last part (bot/digest/service.py)
        text = label(lang, "digest_more_btn", count=min(built.more, settings.digest.max_items))
        bubbles.append(f'<div class="button">{html.escape(text)}</div>')
    bubbles.extend(bubble(chunk, clock) for chunk in alert.chunks)
    return bubbles, until


async def screenshot(langs: list[str], out: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    written = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for lang in langs:
                with tempfile.TemporaryDirectory() as scratch:
                    bubbles, _ = await build_messages(lang, f"sqlite:///{Path(scratch) / 'demo.db'}")
                page_html = _PAGE.format(lang=lang, bubbles="\n".join(bubbles))
                context = await browser.new_context(viewport={"width": PHONE_WIDTH, "height": 800},
                                                    device_scale_factor=2, java_script_enabled=False)
                page = await context.new_page()
                await page.set_content(page_html)
                path, top = out / f"digest-{lang}.png", out / f"digest-{lang}-top.png"
                await page.screenshot(path=str(path), full_page=True)
                # the first screen of it (the chart, the summary, the first items): for the README
                await page.screenshot(path=str(top), clip={"x": 0, "y": 0, "width": PHONE_WIDTH, "height": TOP})
                await context.close()
                written += [path, top]
        finally:
            await browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="where the PNGs go (default docs/img)")
    parser.add_argument("--lang", action="append", choices=LANGUAGES, help="a language (repeat; default en and ru)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(screenshot(args.lang or ["en", "ru"], args.out)):
        print(path)


if __name__ == "__main__":
    main()
