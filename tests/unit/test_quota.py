"""The rule quota is decided in one place: what /watch refuses, the matcher refuses too."""

from __future__ import annotations

from bot.config import Settings
from bot.domain import Rule
from bot.matching import compile_rules, parse_rule
from bot.matching.quota import RuleQuota


def _settings(rules: int, regex: int) -> Settings:
    return Settings.model_validate({"bot": {"max_rules": rules}, "matching": {"max_regex_rules_per_subscriber": regex}})


def test_a_rule_with_two_patterns_counts_once_as_a_pattern_rule() -> None:
    quota = RuleQuota.of(_settings(rules=10, regex=2))
    kept = [parse_rule("/обстрел\\w*/ OR /удар\\w*/"), parse_rule("самооборона")]
    assert quota.refusal(kept, parse_rule("/дрон\\w*/")) is None
    kept.append(parse_rule("/дрон\\w*/"))
    assert quota.refusal(kept, parse_rule("/бпла/")) == ("regex_quota", 2)
    assert quota.refusal(kept, parse_rule("батальон")) is None  # a plain rule still fits
    assert quota.refusal([*kept, None] * 3, parse_rule("батальон")) == ("rule_quota", 10)  # unparsable ones count


def test_what_the_quota_admits_is_what_the_matcher_compiles() -> None:
    settings = _settings(rules=50, regex=2)
    quota = RuleQuota.of(settings)
    sources = ["/а\\w+б/ OR /в\\w+г/", "обстрел", "/д\\w+е/", "/ж\\w+з/", "батальон", "/и\\w+к/"]
    admitted: list[str] = []
    for source in sources:
        if quota.refusal([parse_rule(s) for s in admitted], parse_rule(source)) is None:
            admitted.append(source)
    matcher = compile_rules([Rule(i, s, subscriber_id=1) for i, s in enumerate(sources, 1)], settings=settings.matching)
    compiled = {sources[i - 1] for i in matcher.rule_ids()}
    assert compiled == set(admitted) == {"/а\\w+б/ OR /в\\w+г/", "обстрел", "/д\\w+е/", "батальон"}
