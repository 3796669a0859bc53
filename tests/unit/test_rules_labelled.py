"""The labelled set (tests/data/labelled_rules.txt): every case must come out as labelled."""

from __future__ import annotations

from pathlib import Path

from bot.domain import Rule
from bot.matching import compile_rules

DATA = Path(__file__).parent.parent / "data" / "labelled_rules.txt"


def load_cases() -> list[tuple[str, str, bool, int]]:
    cases: list[tuple[str, str, bool, int]] = []
    rule: str | None = None
    for number, line in enumerate(DATA.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("rule: "):
            rule = line.removeprefix("rule: ")
        elif line[:2] in ("+ ", "- "):
            assert rule is not None, f"line {number}: a case before any rule"
            cases.append((rule, line[2:].replace("\\n", "\n"), line[0] == "+", number))
        else:
            raise AssertionError(f"{DATA.name}:{number}: not a rule or a case: {line!r}")
    return cases


def test_the_set_is_large_and_mixed() -> None:
    cases = load_cases()
    assert len(cases) >= 300
    assert sum(1 for c in cases if not c[2]) >= 100  # near-misses and exclusions, not only hits
    assert any("\n" in c[1] for c in cases)


def test_zero_errors() -> None:
    cases = load_cases()
    rules = list(dict.fromkeys(rule for rule, _, _, _ in cases))
    ids = {rule: i for i, rule in enumerate(rules, 1)}
    # all rules compiled together, as in production; each case checks its own rule's verdict
    matcher = compile_rules([Rule(i, rule, subscriber_id=i) for rule, i in ids.items()])
    assert not matcher.errors
    wrong = []
    for rule, text, expected, number in cases:
        found = any(hit.rule_id == ids[rule] for hit in matcher.match(text, "vvgladkov"))
        if found is not expected:
            wrong.append(f"line {number}: {rule!r} {'should' if expected else 'should NOT'} match {text!r}")
    assert not wrong, f"{len(wrong)} of {len(cases)} wrong:\n" + "\n".join(wrong)
