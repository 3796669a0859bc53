"""What a command receives and returns. No Telethon here: the handlers translate both ways."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ChatKind(enum.StrEnum):
    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a command, and from where. In a private chat chat_id == user_id."""

    chat_id: int
    user_id: int
    kind: ChatKind = ChatKind.PRIVATE
    is_group_admin: bool = False  # only meaningful in groups
    language_code: str | None = None  # the user's Telegram client language ("ru", "en-GB", ...)
    title: str = ""  # the group's title

    @property
    def in_group(self) -> bool:
        return self.kind is ChatKind.GROUP


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: `data` (at most 64 bytes) comes back as a button press; `url` opens a link.
    The text is plain (Telegram does not parse button labels)."""

    text: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("a button has either data or a url")
        if self.data is not None and len(self.data.encode()) > 64:
            raise ValueError(f"callback data over 64 bytes: {self.data!r}")


@dataclass(frozen=True, slots=True)
class ReplyFile:
    name: str
    data: bytes
    mime: str = "text/csv"


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a command or a button press.

    `text` is HTML in which every fragment from a user or a channel is escaped. For a button press,
    `edit=True` replaces the message that carried the button; `toast` is the short note Telegram shows
    (as a pop-up when `alert`). An empty `text` on a button press changes no message. `screen` names
    a screen that lives in one message per chat ("settings"): when it is sent again (a typed change),
    the handlers bring the chat's earlier message of that screen up to date too, so no stale keyboard
    stays behind.
    """

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    file: ReplyFile | None = None
    toast: str | None = None
    alert: bool = False
    edit: bool = True
    screen: str | None = None
    menu: str | None = None  # the chat's language changed: its command menu follows (bot/telegram/menu.py)
