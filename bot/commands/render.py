"""Small HTML helpers shared by the commands. Everything from users and channels goes through `esc`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TypeVar

from bot.commands.types import Button

T = TypeVar("T")
PAGE = 10


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters of one line: long rules and posts are shown shortened."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def page_of(items: Sequence[T], page: int, size: int = PAGE) -> tuple[list[T], int, int]:
    """(items on the page, the page number clamped into range, the number of pages)."""
    pages = max(1, (len(items) + size - 1) // size)
    page = min(max(page, 0), pages - 1)
    return list(items[page * size : (page + 1) * size]), page, pages


def pager(prefix: str, page: int, pages: int) -> tuple[Button, ...]:
    """‹ 2/5 › buttons whose data is `prefix:<page>`."""
    if pages <= 1:
        return ()
    row = []
    if page > 0:
        row.append(Button("‹", f"{prefix}:{page - 1}"))
    row.append(Button(f"{page + 1}/{pages}", f"{prefix}:{page}"))
    if page < pages - 1:
        row.append(Button("›", f"{prefix}:{page + 1}"))
    return tuple(row)


def as_int(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 18 or not text.lstrip("-").isdigit():
        return None
    return int(text)


def marked(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` escaped, with the `spans` (start, end) in bold."""
    out, pos = [], 0
    for a, b in sorted(spans):
        if a < pos or b <= a:
            continue
        out.append(esc(text[pos:a]))
        out.append(f"<b>{esc(text[a:b])}</b>")
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)
