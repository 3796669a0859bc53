"""Every link form a user may paste, and every malformed one, through `parse_channel_link`."""

from __future__ import annotations

import pytest

from bot.ingest.channels import ChannelError, ChannelLink, parse_channel_link


@pytest.mark.parametrize(
    "link",
    [
        "@vvgladkov", "vvgladkov", "VVGladkov", "t.me/vvgladkov", "https://t.me/vvgladkov", "http://t.me/vvgladkov/",
        "https://t.me/vvgladkov/123", "t.me/s/vvgladkov", "https://t.me/s/vvgladkov/77", "telegram.me/vvgladkov",
        "https://telegram.dog/vvgladkov", "tg://resolve?domain=vvgladkov", "vvgladkov.t.me",
        "https://t.me/vvgladkov?single", "  @vvgladkov  ", "https://www.t.me/vvgladkov#x",
    ],
)
def test_username_forms(link: str) -> None:
    parsed = parse_channel_link(link)
    assert parsed.kind == "username"
    assert parsed.username == "vvgladkov"
    assert parse_channel_link(parsed.canonical) == ChannelLink("username", username="vvgladkov")


def test_post_links_keep_the_message_id() -> None:
    assert parse_channel_link("https://t.me/vvgladkov/123").message_id == 123
    assert parse_channel_link("t.me/s/vvgladkov/77").message_id == 77
    assert parse_channel_link("https://t.me/c/1302282372/9") == ChannelLink("id", channel_id=1302282372, message_id=9)


@pytest.mark.parametrize("link", ["1302282372", "-1001302282372", "t.me/c/1302282372", "https://t.me/c/1302282372/5"])
def test_numeric_ids_become_the_bare_id(link: str) -> None:
    parsed = parse_channel_link(link)
    assert (parsed.kind, parsed.channel_id) == ("id", 1302282372)
    assert parse_channel_link(parsed.canonical).channel_id == 1302282372


@pytest.mark.parametrize(
    "link",
    ["t.me/+AbCdEfGh12_-", "https://t.me/+AbCdEfGh12_-", "https://t.me/joinchat/AbCdEfGh12_-",
     "telegram.me/joinchat/AbCdEfGh12_-", "+AbCdEfGh12_-", "tg://join?invite=AbCdEfGh12_-"],
)
def test_invite_links(link: str) -> None:
    parsed = parse_channel_link(link)
    assert (parsed.kind, parsed.invite_hash) == ("invite", "AbCdEfGh12_-")
    assert parse_channel_link(parsed.canonical) == parsed


@pytest.mark.parametrize(
    ("link", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("@ab", "not a valid username"),
        ("@1channel", "not a valid username"),
        ("@bad-name", "not a valid username"),
        ("@double__underscore", "not a valid username"),
        ("@ends_", "not a valid username"),
        ("t.me/" + "a" * 40, "not a valid username"),
        ("https://example.com/vvgladkov", "example.com is not a Telegram link"),
        ("https://t.me/", "names no channel"),
        ("t.me/joinchat/", "no valid hash"),
        ("t.me/+", "invite hash"),
        ("t.me/s/", "must be followed by a channel name"),
        ("t.me/c/abc", "numeric id"),
        ("t.me/addstickers/Pack", "sticker set"),
        ("https://t.me/share/url?url=x", "share link"),
        ("t.me/addlist/abcdef123", "chat folder"),
        ("-12345", "basic group"),
        ("0", "not a Telegram channel id"),
        ("@vvgladkov @other", "spaces"),
        ("tg://settings", "tg://resolve"),
    ],
)
def test_bad_links_say_what_is_wrong(link: str, says: str) -> None:
    with pytest.raises(ChannelError) as err:
        parse_channel_link(link)
    assert err.value.code == "invalid"
    assert says in err.value.message
    assert "Use a form like" in err.value.message
    assert str(err.value) == err.value.message
