"""Rule and channel-link errors in the language of the person who typed them: the error carries a
code and its values (bot.matching.RuleError, bot.ingest.channels.ChannelError), the catalog the
sentence (`rule_err_<code>`, `channel_err_<reason or code>`), and a working example in that language."""

from __future__ import annotations

from typing import Any

from bot.commands.render import clip
from bot.i18n import N_, Html, t

# every sentence a rule error can become (pybabel extract reads the keys here)
RULE_ERRORS = {
    code: key
    for code, key in (
        ("invalid", N_("rule_err_invalid")),
        ("empty", N_("rule_err_empty")),
        ("too_long", N_("rule_err_too_long")),
        ("too_many_words", N_("rule_err_too_many_words")),
        ("no_words", N_("rule_err_no_words")),
        ("one_letter", N_("rule_err_one_letter")),
        ("bad_character", N_("rule_err_bad_character")),
        ("phrase_unclosed", N_("rule_err_phrase_unclosed")),
        ("phrase_unopened", N_("rule_err_phrase_unopened")),
        ("phrase_empty", N_("rule_err_phrase_empty")),
        ("phrase_hyphens", N_("rule_err_phrase_hyphens")),
        ("needs_word", N_("rule_err_needs_word")),
        ("prefix_short", N_("rule_err_prefix_short")),
        ("in_empty", N_("rule_err_in_empty")),
        ("in_bad_channel", N_("rule_err_in_bad_channel")),
        ("channels_only", N_("rule_err_channels_only")),
        ("unexpected", N_("rule_err_unexpected")),
        ("both_sides", N_("rule_err_both_sides")),
        ("ends_early", N_("rule_err_ends_early")),
        ("needs_word_after", N_("rule_err_needs_word_after")),
        ("only_not", N_("rule_err_only_not")),
        ("too_nested", N_("rule_err_too_nested")),
        ("parens_empty", N_("rule_err_parens_empty")),
        ("paren_unclosed", N_("rule_err_paren_unclosed")),
        ("paren_unopened", N_("rule_err_paren_unopened")),
        ("regex_unclosed", N_("rule_err_regex_unclosed")),
        ("regex_empty", N_("rule_err_regex_empty")),
        ("regex_boundary", N_("rule_err_regex_boundary")),
        ("regex_class_escape", N_("rule_err_regex_class_escape")),
        ("regex_invalid", N_("rule_err_regex_invalid")),
        ("regex_too_complex", N_("rule_err_regex_too_complex")),
        ("regex_too_slow", N_("rule_err_regex_too_slow")),
        ("regex_no_literal", N_("rule_err_regex_no_literal")),
    )
}
# a working rule in the user's language, by the kind of mistake
_EXAMPLES = {
    "phrase": N_("rule_example_phrase"),
    "regex": N_("rule_example_regex"),
    "exact": N_("rule_example_exact"),
    "prefix": N_("rule_example_prefix"),
    "channel": N_("rule_example_channel"),
    "parens": N_("rule_example_parens"),
    "or": N_("rule_example_or"),
    "and": N_("rule_example_and"),
    "not": N_("rule_example_not"),
    "word": N_("rule_example_word"),
}
_EXAMPLE_OF = {
    "phrase_unclosed": "phrase", "phrase_unopened": "phrase", "phrase_empty": "phrase", "phrase_hyphens": "phrase",
    "regex_unclosed": "regex", "regex_empty": "regex", "regex_boundary": "regex", "regex_class_escape": "regex",
    "regex_invalid": "regex", "regex_too_complex": "regex", "regex_too_slow": "regex", "regex_no_literal": "regex",
    "prefix_short": "prefix", "in_empty": "channel", "in_bad_channel": "channel", "channels_only": "channel",
    "unexpected": "parens", "too_nested": "parens", "parens_empty": "parens", "paren_unclosed": "parens",
    "paren_unopened": "parens", "ends_early": "not", "needs_word_after": "not", "only_not": "not",
    "too_many_words": "or", "both_sides": "or", "empty": "word", "no_words": "word", "one_letter": "word",
    "bad_character": "word", "too_long": "or",
}
_AND_WORDS = {"and", "и", "і", "&", "&&", "+"}


def _example_kind(code: str, params: dict[str, Any]) -> str:
    if code == "needs_word":
        return "exact" if params.get("op") == "=" else "prefix"
    if code == "both_sides" and str(params.get("op", "")).lower() in _AND_WORDS:
        return "and"
    return _EXAMPLE_OF.get(code, "or")


def rule_error_text(lang: str, err: Exception) -> str:
    """What is wrong, where, and a rule that works: all in `lang`."""
    code = str(getattr(err, "code", "invalid"))
    params: dict[str, Any] = dict(getattr(err, "params", {}) or {})
    key = RULE_ERRORS.get(code, RULE_ERRORS["invalid"])
    values = {name: clip(str(value), 80) for name, value in params.items()}
    try:
        error = t(lang, key, **values)
    except (KeyError, IndexError):  # a value the sentence needs is missing: say it plainly
        error = t(lang, RULE_ERRORS["invalid"])
    column = getattr(err, "column", None)
    where = t(lang, "rule_error_column", column=column) if column is not None else ""
    example = t(lang, _EXAMPLES[_example_kind(code, params)])
    return t(lang, "rule_error", error=Html(error), where=Html(where), example=Html(example))


CHANNEL_ERRORS = {
    code: key
    for code, key in (
        ("invalid", N_("channel_err_invalid")),
        ("not_found", N_("channel_err_not_found")),
        ("is_user", N_("channel_err_is_user")),
        ("private", N_("channel_err_private")),
        ("banned", N_("channel_err_banned")),
        ("flood_wait", N_("channel_err_flood_wait")),
        ("exists", N_("channel_err_exists")),
        ("unreachable", N_("channel_err_unreachable")),
        ("empty", N_("channel_err_empty")),
        ("spaces", N_("channel_err_spaces")),
        ("bad_username", N_("channel_err_bad_username")),
        ("basic_group", N_("channel_err_basic_group")),
        ("bad_id", N_("channel_err_bad_id")),
        ("bad_url", N_("channel_err_bad_url")),
        ("foreign_host", N_("channel_err_foreign_host")),
        ("no_channel", N_("channel_err_no_channel")),
        ("bad_invite", N_("channel_err_bad_invite")),
        ("not_a_channel_link", N_("channel_err_not_a_channel_link")),
        ("invite_expired", N_("channel_err_invite_expired")),
        ("join_requested", N_("channel_err_join_requested")),
        ("too_many_channels", N_("channel_err_too_many_channels")),
        ("group", N_("channel_err_group")),
        ("invite_link", N_("channel_err_invite_link")),
    )
}


def channel_error_text(lang: str, err: Exception, link: str) -> str:
    """Why the channel `link` (as the user typed it) cannot be watched, in `lang`."""
    reason = str(getattr(err, "reason", "") or "")
    code = str(getattr(err, "code", "invalid"))
    key = CHANNEL_ERRORS.get(reason) or CHANNEL_ERRORS.get(code, CHANNEL_ERRORS["invalid"])
    seconds = getattr(err, "retry_after", None) or 60
    return t(lang, "channel_error", error=Html(t(lang, key, name=clip(link.strip() or "?", 80), seconds=seconds)))

