"""What a Sender raises. The delivery worker decides what each means for the outbox row."""

from __future__ import annotations


class SendError(Exception):
    """A send did not succeed. The message never holds a secret."""


class ChatFloodWait(SendError):
    """Telegram asked us to wait before sending to this chat again (FloodWait)."""

    def __init__(self, seconds: float, message: str = "") -> None:
        self.seconds = max(0.0, float(seconds))
        super().__init__(message or f"flood wait of {self.seconds:g} s")


class ChatUnavailable(SendError):
    """The chat is gone for us: the user blocked the bot, was deactivated, or the bot was removed."""


class SendUncertain(SendError):
    """The request went out and no answer came back: it may or may not have been delivered."""


class SendInDoubt(SendError):
    """Like SendUncertain, for a destination that cannot recognise a repeat (a notification service
    without an idempotency key): reported uncertain at once, never sent again."""


class DestinationGone(SendError):
    """The row's destination no longer exists or cannot be used (a notification target removed, its
    URL unreadable): the row fails at once."""


class SendFailed(SendError):
    """The send failed and nothing was delivered (a retry may succeed)."""


__all__ = ["ChatFloodWait", "ChatUnavailable", "DestinationGone", "SendError", "SendFailed", "SendInDoubt",
           "SendUncertain"]
