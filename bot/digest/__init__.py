"""Digests: select a subscriber's matches for a period (`select`), build and collapse them
(`builder`, `collapse`), render and split them for Telegram (`render`), schedule them (`scheduler`)."""

from __future__ import annotations

from bot.digest.render import DigestItem, render_items_html, split_chunks, utf16_len

__all__ = ["DigestItem", "render_items_html", "split_chunks", "utf16_len"]
