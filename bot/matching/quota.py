"""How many rules a subscriber may keep: the one place the quota is decided.

`/watch`, a rule edit and an import ask `RuleQuota.refusal` before storing a rule; the matcher asks
`allows_regex` while compiling, so rules that reached the database some other way (a lowered
setting, an old import) still cannot make every post slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.config import MatchingSettings, Settings
from bot.matching.rules import ParsedRule

Refusal = tuple[Literal["rule_quota", "regex_quota"], int]  # the message key, and the limit it names


@dataclass(frozen=True, slots=True)
class RuleQuota:
    rules: int | None  # rules per subscriber (bot.max_rules); None: not counted here (the matcher)
    regex_rules: int  # of them, rules with a /pattern/ (matching.max_regex_rules_per_subscriber)

    @classmethod
    def of(cls, settings: Settings) -> RuleQuota:
        return cls(settings.bot.max_rules, settings.matching.max_regex_rules_per_subscriber)

    @classmethod
    def when_matching(cls, settings: MatchingSettings) -> RuleQuota:
        return cls(None, settings.max_regex_rules_per_subscriber)

    def allows_regex(self, regex_rules_kept: int) -> bool:
        return regex_rules_kept < self.regex_rules

    def refusal(self, kept: Sequence[ParsedRule | None], new: ParsedRule) -> Refusal | None:
        """Why ``new`` may not join the subscriber's ``kept`` rules (None for a kept rule that no
        longer parses: it counts as a rule, not as a /pattern/ one), or None when it may."""
        if self.rules is not None and len(kept) >= self.rules:
            return "rule_quota", self.rules
        if new.regex_count and not self.allows_regex(sum(1 for r in kept if r is not None and r.regex_count)):
            return "regex_quota", self.regex_rules
        return None
