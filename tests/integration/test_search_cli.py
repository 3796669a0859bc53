"""`tgmon match`, `tgmon search` and `tgmon reindex` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

ENV = {"TGMON_CONFIG": "/nonexistent/settings.toml"}


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env={**ENV, **(env or {})}, catch_exceptions=False)
    return result.exit_code, result.output


def _files(tmp_path: Path, rules: str, posts: list[object] | str) -> tuple[str, str]:
    rules_file = tmp_path / "rules.txt"
    rules_file.write_text(rules, encoding="utf-8")
    posts_file = tmp_path / "posts.jsonl"
    body = posts if isinstance(posts, str) else "\n".join(json.dumps(p, ensure_ascii=False) for p in posts)
    posts_file.write_text(body, encoding="utf-8")
    return str(rules_file), str(posts_file)


def test_match_json_lines(tmp_path: Path) -> None:
    rules, posts = _files(
        tmp_path,
        "# rules\nбатальон\n\n\"территориальная оборона\"\nобстрел* -учения\n",
        [{"id": 1, "text": "Батальоны территориальной\nобороны"}, {"id": "b", "text": "оборот", "x": 1},
         {"id": 3, "text": "🔥 Обстреляли Белгород"}],
    )
    code, out = _run(["match", "--rules", rules, "--posts", posts, "--json"])
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"id": 1, "rules": [2, 4], "highlights": [[0, 9], [10, 33]]},
        {"id": "b", "rules": [], "highlights": []},
        {"id": 3, "rules": [5], "highlights": [[2, 12]]},
    ]


def test_match_readable_report_marks_words(tmp_path: Path) -> None:
    rules, posts = _files(tmp_path, "батальон\n", [{"id": 7, "text": "Третий батальон"}, {"id": 8, "text": "рота"}])
    code, out = _run(["match", "--rules", rules, "--posts", posts])
    assert code == 0
    assert "post 7: rules on lines 1" in out and "Третий [[батальон]]" in out
    assert "post 8: no rule matched" in out


def test_match_one_rule_one_text() -> None:
    code, out = _run(["match", "--rule", "обстрел Белгород", "--text", "Обстрел Белгорода"])
    assert code == 0 and out.strip() == "match: [[Обстрел]] [[Белгорода]]"
    code, out = _run(["match", "--rule", "оборона", "--text", "оборот", "--json"])
    assert code == 0 and json.loads(out) == {"match": False, "highlights": []}


def test_bad_rule_exits_2_with_its_line(tmp_path: Path) -> None:
    rules, posts = _files(tmp_path, "батальон\n# note\n(обстрел\n", [{"id": 1, "text": "x"}])
    code, out = _run(["match", "--rules", rules, "--posts", posts, "--json"])
    assert code == 2
    assert f"{rules}:3:" in out and "never closed" in out and "column 1" in out
    assert "Traceback" not in out
    code, out = _run(["match", "--rule", "обстрел OR", "--text", "x"])
    assert code == 2 and "both sides" in out


def test_bad_posts_are_explained(tmp_path: Path) -> None:
    rules, posts = _files(tmp_path, "батальон\n", '{"id": 1, "text": "батальон"}\n{"id": 2\n')
    code, out = _run(["match", "--rules", rules, "--posts", posts, "--json"])
    assert code == 2 and f"{posts}:2: not valid JSON" in out
    assert '"id": 1' not in out  # nothing printed before the whole file was checked
    rules, posts = _files(tmp_path, "батальон\n", '{"id": 1, "body": "x"}\n')
    code, out = _run(["match", "--rules", rules, "--posts", posts])
    assert code == 2 and 'a string "text"' in out
    code, out = _run(["match", "--rules", str(tmp_path / "none.txt"), "--posts", posts])
    assert code == 2 and "no such file" in out
    code, out = _run(["match", "--rules", rules])
    assert code == 2 and "--posts" in out
    empty, _ = _files(tmp_path, "# only a comment\n", "")
    code, out = _run(["match", "--rules", empty, "--posts", posts])
    assert code == 2 and "no rules" in out


def test_search_and_reindex_on_an_imported_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    env = {"TGMON_DATABASE_URL": url}
    export = Path(__file__).parents[2] / "bot" / "demo" / "sample_export.json"
    code, out = _run(["import", str(export), "--channel", "vvgladkov"], env)
    assert code == 0, out
    code, out = _run(["search", "обстрел*", "--limit", "2"], env)
    assert code == 0, out
    first = out.splitlines()[0]
    assert "posts matched" in first and int(first.split()[0]) > 0
    assert out.count("https://t.me/vvgladkov/") == 2 and "[[" in out
    code, again = _run(["reindex"], env)
    assert code == 0 and "reindexed" in again
    code, same = _run(["search", "обстрел*", "--limit", "2"], env)
    assert same == out
    code, out = _run(["search", "(обстрел"], env)
    assert code == 2 and "never closed" in out
