"""A digest chunk (Telegram's HTML subset: <b>, <i>, <a href>, <code>, newlines) in a service's format.

E-mail gets HTML (newlines as <br>), Slack, Discord and Matrix Markdown, ntfy and webhooks plain
text with every link written out after its text (a plain-text reader cannot click a word). The
conversions are apprise's (`apprise.conversion`). The digest was already split for the target's
size (`notify_targets.body_limit`, apprise's `body_maxlen`), and HTML is never shorter than what it
becomes, so a converted chunk fits; `fit` cuts one that would not, with a pointer to the rest.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # apprise loads when a body is converted, not when a bot or web process starts
    from apprise import NotifyFormat

FORMATS = ("html", "markdown", "text")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)
_TAG = re.compile(r"<[^>]+>")
_PART = re.compile(r"\(\d+/\d+\)")


def _links_written_out(chunk: str) -> str:
    def spell(match: re.Match[str]) -> str:
        href, label = match.group(1), match.group(2)
        return label if html.unescape(_TAG.sub("", label)) == html.unescape(href) else f"{label} ({href})"

    return _LINK.sub(spell, chunk)


def as_html(chunk: str) -> str:
    return chunk.replace("\n", "<br>\n")


def render(chunk: str, body_format: str) -> str:
    """The chunk's body in `body_format` (html | markdown | text)."""
    if body_format == "html":
        return as_html(chunk)
    from apprise.conversion import html_to_markdown, html_to_text

    if body_format == "markdown":
        # <br> without a newline after it: no line starts with a space; each line ends in a hard break
        body = str(html_to_markdown(chunk.replace("\n", "<br>"))).strip()
        return "\n".join(line if line.strip() else "" for line in body.split("\n"))
    text = str(html_to_text(as_html(_links_written_out(chunk))))
    return "\n".join(line.strip() for line in text.strip().split("\n"))  # <br> leaves a space behind


def title_of(chunk: str, limit: int = 200) -> str:
    """The chunk's first line as plain text: the message's title or subject ("tgmon (2/3)" for a
    later part of a digest, whose first line is its number)."""
    first = html.unescape(_TAG.sub("", chunk.strip().split("\n", 1)[0])).strip() or "tgmon"
    if _PART.fullmatch(first):
        return f"tgmon {first}"
    return first if len(first) <= limit else first[: limit - 1] + "…"


def fit(body: str, limit: int, more: str) -> str:
    """`body` cut at a line end to fit `limit` characters, ending with `more` when cut."""
    if len(body) <= limit:
        return body
    room = max(0, limit - len(more) - 2)
    cut = body.rfind("\n", 0, room)
    return body[: cut if cut > room // 2 else room].rstrip() + "\n…\n" + more


def apprise_format(body_format: str) -> NotifyFormat:
    from apprise import NotifyFormat

    return {"html": NotifyFormat.HTML, "markdown": NotifyFormat.MARKDOWN}.get(body_format, NotifyFormat.TEXT)
