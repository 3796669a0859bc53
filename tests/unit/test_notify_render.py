"""Notifications: a digest chunk in each service's format and size, URLs masked and parsed, sealing."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.digest.builder import build_digest
from bot.notify import edge
from bot.notify.render import fit, render, title_of
from bot.notify.secret import SealError, seal, unseal
from tests.unit.test_digest_build import row

CHUNK = ('<b>Daily digest, 20.11.2026: 2 items</b>\n\n🔎 <b>Обстрелы</b> (1)\n📢 <i>Белгород &lt;новости&gt;</i> (1)\n'
         '• 12:00 <b>Обстрел</b> Шебекино: дома &amp; машины\n<a href="https://t.me/belgorod/2">https://t.me/belgorod/2</a>\n'
         '• 12:05 <a href="https://t.me/x/5">Гладков</a> said *stars*')


def test_html_for_email_keeps_the_markup_and_breaks_lines() -> None:
    body = render(CHUNK, "html")
    assert "<b>Обстрелы</b> (1)<br>\n" in body and "&lt;новости&gt;" in body and "&amp;" in body


def test_markdown_for_chat_services() -> None:
    body = render(CHUNK, "markdown")
    assert body.startswith("**Daily digest, 20.11.2026: 2 items**")
    assert "[Гладков](<https://t.me/x/5>)" in body and "**Обстрел** Шебекино: дома & машины" in body
    assert "\\*stars\\*" in body  # a post's own asterisks stay asterisks
    assert not any(line.startswith(" ") for line in body.split("\n"))


def test_plain_text_writes_every_link_out() -> None:
    body = render(CHUNK, "text")
    assert "<" not in body.replace("<новости>", "") and "&amp;" not in body
    assert "Гладков (https://t.me/x/5)" in body
    assert "\nhttps://t.me/belgorod/2\n" in body  # a link that is its own text is written once
    assert "Белгород <новости> (1)" in body


def test_title_is_the_heading_or_the_part_number() -> None:
    assert title_of(CHUNK) == "Daily digest, 20.11.2026: 2 items"
    assert title_of("(2/3)\n<b>x</b>") == "tgmon (2/3)"


def test_fit_cuts_at_a_line_end_and_says_so() -> None:
    body = "\n".join(f"line {i} " + "x" * 50 for i in range(100))
    cut = fit(body, 1000, "(cut)")
    assert len(cut) <= 1000 and cut.endswith("…\n(cut)") and cut.split("\n")[-3].endswith("x")
    assert fit("short", 1000, "(cut)") == "short"


def test_a_long_digest_for_discord_comes_in_parts_that_fit_its_2000_characters() -> None:
    parsed = edge.parse("discord://1234567890/abcdefTOKEN")
    assert parsed is not None and (parsed.body_format, parsed.body_limit, parsed.keyed) == ("markdown", 2000, False)
    rows = [row(i, f"Обстрел района {i}: повреждены дома " + "слово " * 40, minutes=i) for i in range(1, 41)]
    built = build_digest(rows, tz="UTC", title="Daily digest", excerpt_chars=300, limit=parsed.body_limit)
    assert len(built.chunks) > 3
    for chunk in built.chunks:
        assert len(render(chunk, "markdown")) <= 2000 and len(render(chunk, "text")) <= 2000


@pytest.mark.parametrize(("url", "fmt", "keyed", "masked"), [
    ("mailtos://me:pa55word@gmail.com", "html", True, "mailtos://gmail.com"),
    ("json://127.0.0.1:8080/hook/T0KEN", "text", True, "json://127.0.0.1"),
    ("slack://TokenA/TokenB/TokenC/#general", "markdown", False, "slack://to…"),
    ("matrixs://user:pw@matrix.example.org/#room", "markdown", False, "matrixs://matrix.example.org"),
    ("ntfy://my-secret-topic", "text", False, "ntfy://my…"),
])
def test_each_service_gets_its_format_and_a_mask_without_secrets(url, fmt, keyed, masked) -> None:
    parsed = edge.parse(url)
    assert parsed is not None and (parsed.body_format, parsed.keyed, parsed.masked) == (fmt, keyed, masked)


@pytest.mark.parametrize("url", ["", "hello", "https://example.com/x", "nosuch://a/b", "mailto://"])
def test_what_apprise_cannot_use_is_none(url) -> None:
    assert edge.parse(url) is None


def test_a_reason_never_shows_the_urls_secret_parts() -> None:
    url = "json://user:pa55word@hooks.example.org/path/T0KEN123?+X-Key=v4lue99"
    reason = edge.redact(f"Failed to send to {url} (http://hooks.example.org/path/T0KEN123): pa55word", url)
    for secret in ("pa55word", "T0KEN123", "v4lue99", "user:"):
        assert secret not in reason
    assert "json://hooks.example.org" in reason


def test_sealing_round_trip_and_a_wrong_key() -> None:
    key = SecretStr("a passphrase of twenty chars")
    sealed = seal("mailtos://me:pw@gmail.com", key)
    assert sealed.startswith("fernet:") and "pw@gmail" not in sealed
    assert unseal(sealed, key) == "mailtos://me:pw@gmail.com"
    assert unseal(seal("ntfy://t", None), None) == "ntfy://t"
    with pytest.raises(SealError, match="another TGMON_NOTIFY_KEY"):
        unseal(sealed, SecretStr("another passphrase, twenty"))
    with pytest.raises(SealError, match="not set"):
        unseal(sealed, None)
