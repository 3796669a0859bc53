"""`tgmon digest preview` prints what the bot would send, from the stored posts; bad input exits 2."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from telethon.extensions import html as tl_html

from bot.app import build_app
from bot.cli import cli
from bot.config import Settings
from bot.demo import SAMPLE_EXPORT
from bot.digest.builder import BuiltDigest
from bot.digest.preview import period, preview_digest, read_rules
from bot.digest.service import queue_digest
from bot.i18n import plural
from bot.ingest.export import read_export
from bot.ingest.pipeline import as_async
from bot.storage import models as m

RULES = ["обстрел", "shelling OR самооборона", "батальон"]


async def _import_sample(url: str, with_subscriber: bool, language: str = "en") -> None:
    app = await build_app(Settings(), database_url=url)
    if with_subscriber:
        async with app.db.uow() as session:
            sub = m.Subscriber(chat_id=5, timezone="Europe/Moscow", language=language,
                               created_at=datetime(2026, 1, 1, tzinfo=UTC))
            session.add(sub)
            await session.flush()
            session.add_all(m.Rule(subscriber_id=sub.id, name="", source=r, channels=[]) for r in RULES)
        await app.pipeline.reload_rules()
    await app.pipeline.ingest_stream(as_async(read_export(SAMPLE_EXPORT, username="vvgladkov")))
    await app.close()


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_preview_is_exactly_what_the_bot_queues(tmp_path: Path, language: str) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    await _import_sample(url, with_subscriber=True, language=language)
    settings = Settings()
    start, end = period(datetime(2026, 11, 18).date(), datetime(2026, 11, 20).date(), "Europe/Moscow",
                        datetime.now(UTC))
    app = await build_app(settings, database_url=url)
    try:
        built = await preview_digest(app.db, settings, read_rules(RULES, settings), since=start, until=end,
                                     tz="Europe/Moscow", daily_title=True, lang=language)
        async with app.db.uow() as session:
            sub = await session.scalar(select(m.Subscriber))
            assert sub is not None
            queued = await queue_digest(session, settings, sub, kind="daily", period_key="daily:test", since=start,
                                        until=end, now=end, by_post_date=True)
        async with app.db.uow(read_only=True) as session:
            texts = list(await session.scalars(select(m.Outbox.text).order_by(m.Outbox.chunk_no)))
    finally:
        await app.close()
    assert queued is not None and queued.items == built.total > 5
    assert texts == built.chunks
    heading = tl_html.parse(texts[0])[0].splitlines()[0]
    if language == "ru":
        assert heading.startswith("Ежедневный дайджест, 21 ноября 2026: ")
        assert heading.endswith(plural("ru", "digest_items_n", built.total)) and "item" not in heading
    else:
        assert heading == f"Daily digest, 21.11.2026: {built.total} items"


def test_cli_lang_and_chat_give_the_subscribers_language(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    asyncio.run(_import_sample(url, with_subscriber=True, language="ru"))
    rules = tmp_path / "rules.txt"
    rules.write_text("\n".join(RULES), "utf-8")
    env = {"TGMON_CONFIG": str(tmp_path / "none.toml")}
    base = ["digest", "preview", "--rules", str(rules), "--database", url, "--since", "2026-11-18",
            "--until", "2026-11-20", "--html"]
    by_chat = CliRunner().invoke(cli, [*base, "--chat", "5"], env=env)  # its language (ru) and zone (Moscow)
    by_lang = CliRunner().invoke(cli, [*base, "--lang", "ru", "--tz", "Europe/Moscow"], env=env)
    english = CliRunner().invoke(cli, [*base, "--tz", "Europe/Moscow"], env=env)
    overridden = CliRunner().invoke(cli, [*base, "--chat", "5", "--lang", "en"], env=env)
    for result in (by_chat, by_lang, english, overridden):
        assert result.exit_code == 0, result.output
    assert by_chat.stdout == by_lang.stdout
    assert by_chat.stdout.startswith("<b>Дайджест 18 ноября 00:00 – 21 ноября 2026 00:00: ")
    assert "публикац" in by_chat.stdout.splitlines()[0]
    assert english.stdout == overridden.stdout and english.stdout.startswith("<b>Digest 18.11 00:00–21.11.2026 00:00: ")
    missing = CliRunner().invoke(cli, [*base, "--chat", "404"], env=env)
    assert missing.exit_code == 2 and "no subscriber has this chat id" in missing.output
    bad = CliRunner().invoke(cli, [*base, "--lang", "de"], env=env)
    assert bad.exit_code == 2 and "'de' is not one of 'en', 'ru'" in bad.output


def test_cli_prints_html_chunks_each_followed_by_a_separator(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    asyncio.run(_import_sample(url, with_subscriber=False))
    rules = tmp_path / "rules.txt"
    rules.write_text("# what we watch\nобстрел\n\nshelling OR самооборона\n", "utf-8")
    args = ["digest", "preview", "--rules", str(rules), "--database", url, "--since", "2026-11-01",
            "--until", "2026-11-20", "--tz", "Europe/Moscow"]
    result = CliRunner().invoke(cli, [*args, "--html"], env={"TGMON_CONFIG": str(tmp_path / "none.toml")})
    assert result.exit_code == 0, result.output
    settings = Settings()
    start, end = period(datetime(2026, 11, 1).date(), datetime(2026, 11, 20).date(), "Europe/Moscow", datetime.now(UTC))

    async def expected() -> BuiltDigest:
        app = await build_app(settings, database_url=url)
        try:
            return await preview_digest(app.db, settings, read_rules(rules.read_text("utf-8").splitlines(), settings),
                                        since=start, until=end, tz="Europe/Moscow", daily_title=False)
        finally:
            await app.close()

    built = asyncio.run(expected())
    assert built.chunks and built.more > 0  # the default size: the top items, then how many more
    assert result.stdout == "".join(f"{c}\n-----\n" for c in built.chunks)
    plain = CliRunner().invoke(cli, args, env={"TGMON_CONFIG": str(tmp_path / "none.toml")})
    assert plain.exit_code == 0 and "<b>" not in plain.stdout and "https://t.me/vvgladkov/" in plain.stdout


def test_bad_rules_dates_and_zones_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("обстрел\n\"unclosed phrase\n", "utf-8")
    good = tmp_path / "good.txt"
    good.write_text("обстрел\n", "utf-8")
    db = ["--database", f"sqlite:///{tmp_path / 'x.db'}"]
    cases = [
        (["--rules", str(bad)], "line 2"),
        (["--rules", str(tmp_path / "missing.txt")], "cannot read"),
        (["--rules", str(good), "--since", "24.11.2026"], "YYYY-MM-DD"),
        (["--rules", str(good), "--since", "2026-11-20", "--until", "2026-11-10"], "is not before"),
        (["--rules", str(good), "--tz", "Moscow"], "unknown timezone"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli, ["digest", "preview", *args, *db],
                                    env={"TGMON_CONFIG": str(tmp_path / "none.toml")})
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
