"""The bot's pure parts: timezones, times, the token bucket, command splitting, reply fitting."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot import domain
from bot.commands import Button, RateLimiter, Reply
from bot.commands.router import _split_command, fit
from bot.commands.settings_menu import parse_time
from bot.commands.timezones import TimezoneError, describe_timezone, resolve_timezone
from bot.i18n import language_for, t


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Europe/Moscow", "Europe/Moscow"),
        ("europe/moscow", "Europe/Moscow"),
        ("Moscow", "Europe/Moscow"),
        ("Москва", "Europe/Moscow"),
        ("Белгород", "Europe/Moscow"),
        ("Київ", "Europe/Kyiv"),
        ("new york", "America/New_York"),
        ("Los_Angeles", "America/Los_Angeles"),
        ("UTC", "UTC"),
        ("UTC+3", "Etc/GMT-3"),
        ("+3", "Etc/GMT-3"),
        ("gmt-5", "Etc/GMT+5"),
        ("UTC+05:30", "Asia/Kolkata"),
        ("−3:30", "America/St_Johns"),
        ("+14", "Etc/GMT-14"),
        ("-0", "UTC"),
    ],
)
def test_timezone_from_what_people_type(typed: str, zone: str) -> None:
    assert resolve_timezone(typed) == zone
    ZoneInfo(zone)


@pytest.mark.parametrize("typed", ["", "Atlantis", "+15", "-13", "UTC+3:17", "Europe/", "<b>", "1" * 1000])
def test_timezone_rejects_the_rest(typed: str) -> None:
    with pytest.raises(TimezoneError):
        resolve_timezone(typed)


def test_etc_zones_read_as_offsets() -> None:
    assert describe_timezone("Etc/GMT-3") == "UTC+3"
    assert describe_timezone("Etc/GMT+5") == "UTC-5"
    assert describe_timezone("Europe/Moscow") == "Moscow"
    assert describe_timezone("Asia/Yekaterinburg", "ru") == "Екатеринбург"
    assert describe_timezone("Asia/Yekaterinburg", "uk") == "Єкатеринбург"
    assert describe_timezone("UTC", "ru") == "UTC"


def test_parse_time() -> None:
    assert parse_time("07:30") == 450
    assert parse_time("7") == 420
    assert parse_time("19.05") == 19 * 60 + 5
    for bad in ("24:00", "7:60", "seven", "", "7:5", "-1"):
        assert parse_time(bad) is None


def test_token_bucket_burst_then_rate_and_one_warning() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.check(1) for _ in range(5)] == ["allow", "allow", "warn", "drop", "drop"]
    assert limiter.check(2) == "allow"
    assert limiter.retry_after(1) == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.check(1) == "allow"
    assert limiter.check(1) == "warn"  # a new flood is told again
    now[0] += 100
    assert [limiter.check(1) for _ in range(3)] == ["allow", "allow", "warn"]  # refills to the burst only


def test_token_bucket_memory_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=1, clock=lambda: now[0], max_users=100)
    for user in range(1000):
        limiter.check(user)
        now[0] += 0.01
    assert len(limiter._buckets) <= 100


def test_split_command() -> None:
    assert _split_command("/watch батальон  ", None) == ("watch", "батальон", True)
    assert _split_command("  /WATCH@TgMon_bot a b", "tgmon_bot") == ("watch", "a b", True)
    assert _split_command("/watch@other x", "tgmon_bot") == ("watch", "x", False)
    assert _split_command("/rules\nmore", None) == ("rules", "more", True)
    assert _split_command("hello /watch", None) == (None, "", True)
    assert _split_command("/", None) == (None, "", True)


def test_language_for() -> None:
    assert [language_for(c) for c in ("ru", "uk", "be", "ru-RU", "UK_ua", "en", "de", None, "")] == [
        "ru",
        "uk",
        "ru",
        "ru",
        "uk",
        "en",
        "en",
        "en",
        "en",
    ]


def test_values_are_escaped_and_buttons_limited() -> None:
    assert t("en", "rule_added", number=1, rule="<b>&") == "✅ Rule 1 added: <code>&lt;b&gt;&amp;</code>"
    with pytest.raises(ValueError):
        Button("x", "d" * 65)
    with pytest.raises(ValueError):
        Button("x")


def test_fit_drops_whole_lines() -> None:
    long = Reply("\n".join(f"<b>{i}</b> " + "я" * 100 for i in range(100)))
    fitted = fit(long)
    assert len(fitted.text.encode("utf-16-le")) // 2 <= 4096
    assert fitted.text.endswith("\n…") and fitted.text.count("<b>") == fitted.text.count("</b>")


async def test_bot_client_resolver_maps_telegram_answers() -> None:
    from datetime import UTC, datetime

    from telethon import errors, types

    from bot.ingest.channels import ChannelError
    from bot.telegram.bot_runner import BotClientResolver

    channel = types.Channel(
        id=1302282372,
        title="Гладков",
        photo=types.ChatPhotoEmpty(),
        date=datetime.now(UTC),
        username="VVGladkov",
        broadcast=True,
        access_hash=5,
    )
    answers: dict[str, object] = {
        "vvgladkov": channel,
        "somebody": types.User(id=5, first_name="S"),
        "busy": errors.FloodWaitError(request=None, capture=120),
        "nobody": ValueError('No user has "nobody" as username'),
    }

    class Client:
        async def get_entity(self, target: object) -> object:
            answer = answers[str(target)]
            if isinstance(answer, Exception):
                raise answer
            return answer

    resolver = BotClientResolver(Client())
    assert await resolver.resolve("https://t.me/vvgladkov") == domain.ChannelRef(
        1302282372, "vvgladkov", "Гладков"
    )
    for link, code in (
        ("@somebody", "is_user"),
        ("@busy", "flood_wait"),
        ("@nobody", "not_found"),
        ("t.me/+AbCdEf123456", "private"),
    ):
        with pytest.raises(ChannelError) as caught:
            await resolver.resolve(link)
        assert caught.value.code == code, link
    with pytest.raises(ChannelError):
        async for _ in resolver.history(domain.ChannelRef(1, "x")):
            pass
