"""The command menu Telegram shows next to the message field: each command with a short
description in each of the bot's languages (bot/telegram/menu.py registers it at start)."""

from __future__ import annotations

from bot.i18n import CLOSE_LANGUAGES, DEFAULT_LANGUAGE, LANGUAGES, N_, label

# in the order the menu lists them; /admin stays out (its users know it)
MENU = (
    ("start", N_("cmd_start")),
    ("help", N_("cmd_help")),
    ("watch", N_("cmd_watch")),
    ("rules", N_("cmd_rules")),
    ("unwatch", N_("cmd_unwatch")),
    ("edit", N_("cmd_edit")),
    ("name", N_("cmd_name")),
    ("delivery", N_("cmd_delivery")),
    ("search", N_("cmd_search")),
    ("digest", N_("cmd_digest")),
    ("more", N_("cmd_more")),
    ("channels", N_("cmd_channels")),
    ("follow", N_("cmd_follow")),
    ("settings", N_("cmd_settings")),
    ("pause", N_("cmd_pause")),
    ("resume", N_("cmd_resume")),
    ("export", N_("cmd_export")),
    ("import", N_("cmd_import")),
    ("web", N_("cmd_web")),
    ("feed", N_("cmd_feed")),
    ("notify", N_("cmd_notify")),
    ("lang", N_("cmd_lang")),
    ("stop", N_("cmd_stop")),
)
UNLISTED = {"admin"}


def command_menu(lang: str) -> list[tuple[str, str]]:
    """(command, description) pairs in `lang`."""
    return [(name, label(lang, key)) for name, key in MENU]


def menu_languages() -> list[tuple[str, str]]:
    """(Telegram language code, catalog) for every menu to register: "" is the default scope's
    menu (English), then each language we have, then the close languages (be reads ru)."""
    pairs = [("", DEFAULT_LANGUAGE)] + [(code, code) for code in LANGUAGES if code != DEFAULT_LANGUAGE]
    pairs += [(code, lang) for code, lang in CLOSE_LANGUAGES.items() if code not in LANGUAGES and lang in LANGUAGES]
    return pairs
