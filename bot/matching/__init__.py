"""Matching: the rule language, normalisation (ru/uk/en morphology) and the compiled matcher.

Package face: `compile_rules` (the pipeline's MatcherFactory), `parse_rule` / `RuleError` (for the
bot's and the CLI's rule checks), `index_text` (lemma text for the full-text index). Pure: no database, no Telegram (the
archive search over the database is `bot.search`, built on this package).
"""

from __future__ import annotations

from bot.matching.errors import RuleError
from bot.matching.index import INDEX_VERSION, index_text
from bot.matching.matcher import CompiledMatcher, compile_rules
from bot.matching.rules import ParsedRule, parse_rule

__all__ = ["INDEX_VERSION", "CompiledMatcher", "ParsedRule", "RuleError", "compile_rules", "index_text", "parse_rule"]
