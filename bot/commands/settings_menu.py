"""/settings: frequency, delivery time, timezone, quiet hours, digest size, weekday, sound.

Every setting has buttons, and a typed form for people who prefer it (`/settings time 07:30`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.commands.context import CommandContext, Request
from bot.commands.render import as_int
from bot.commands.timezones import COMMON_ZONES, TimezoneError, describe_timezone, resolve_timezone
from bot.commands.types import Button, Reply
from bot.commands.words import day_number, setting_named, value_word
from bot.i18n import N_, label, t
from bot.storage import models as m
from bot.storage.rules import ensure_subscriber

FREQUENCIES = ("instant", "daily", "weekly")
SIZES = (5, 10, 20, 50, 0)
QUIET_PRESETS = ((22 * 60, 7 * 60), (23 * 60, 8 * 60), (0, 7 * 60), (21 * 60, 9 * 60))
FREQUENCY_KEYS = {"instant": N_("freq_instant_btn"), "daily": N_("freq_daily_btn"), "weekly": N_("freq_weekly_btn")}
DAY_KEYS = (N_("day_0_btn"), N_("day_1_btn"), N_("day_2_btn"), N_("day_3_btn"), N_("day_4_btn"), N_("day_5_btn"),
            N_("day_6_btn"))
# which messages ring (Telegram's silent send for the rest): instant alerts only (the default), all, none
SOUNDS = ("alerts", "all", "none")
SOUND_KEYS = {"alerts": N_("sound_alerts_btn"), "all": N_("sound_all_btn"), "none": N_("sound_none_btn")}
_TIME = re.compile(r"^(\d{1,2})(?:[:.h ](\d{2}))?$")


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(text: str) -> int | None:
    """Minutes after midnight for "7", "07:30", "7.30", "19:05"; None when it is not a time."""
    found = _TIME.match(text.strip().lower())
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return hour * 60 + minute


def _screen(lang: str, sub: m.Subscriber) -> Reply:
    quiet = (
        f"{hhmm(sub.quiet_start)}–{hhmm(sub.quiet_end)}"
        if sub.quiet_start is not None and sub.quiet_end is not None
        else label(lang, "off_btn")
    )
    weekly = sub.frequency == "weekly"
    text = t(
        lang,
        "settings_screen",
        frequency=label(lang, FREQUENCY_KEYS.get(sub.frequency, FREQUENCY_KEYS["daily"])),
        time=f"{sub.digest_hour:02d}:{sub.digest_minute:02d}",
        timezone=describe_timezone(sub.timezone, lang),
        quiet=quiet,
        size=label(lang, "size_all_btn") if sub.digest_size == 0 else str(sub.digest_size),
        paused=label(lang, N_("yes_btn") if sub.paused else N_("no_btn")),
    )
    if weekly:  # the weekday means nothing to a daily or instant subscriber: no line, no button
        text += "\n" + t(lang, "settings_weekday_line", weekday=label(lang, DAY_KEYS[sub.digest_weekday % 7]))
    text += "\n" + t(lang, "settings_sound_line", sound=label(lang, SOUND_KEYS.get(sub.sound, SOUND_KEYS["alerts"])))
    last_row: tuple[Button, ...] = (Button(label(lang, "set_size_btn"), "s:size"),)
    if weekly:
        last_row += (Button(label(lang, "set_weekday_btn"), "s:day"),)
    buttons = (
        (Button(label(lang, "set_frequency_btn"), "s:freq"), Button(label(lang, "set_time_btn"), "s:time")),
        (Button(label(lang, "set_timezone_btn"), "s:tz"), Button(label(lang, "set_quiet_btn"), "s:quiet")),
        last_row,
        (Button(label(lang, "set_sound_btn"), "s:sound"),),
    )
    return Reply(text, buttons, screen="settings")


def _back(lang: str) -> tuple[Button, ...]:
    return (Button(label(lang, "back_btn"), "s:main"),)


async def _update(ctx: CommandContext, req: Request, change: Callable[[m.Subscriber], None]) -> Reply:
    async with ctx.db.uow() as session:
        sub = await ensure_subscriber(session, req.caller, req.lang, ctx.settings)
        change(sub)
    return _screen(req.lang, sub)


async def settings(ctx: CommandContext, req: Request) -> Reply:
    name, _, value = req.args.strip().partition(" ")
    name, value = name.lower(), value.strip()
    if not name:
        return await _update(ctx, req, lambda sub: None)
    setter = _TYPED.get(setting_named(name) or "")
    if setter is None:
        return Reply(t(req.lang, "settings_unknown", name=name[:30]))
    if not value:
        return Reply(t(req.lang, "settings_usage"))
    error, change = setter(value)
    if change is None:
        return Reply(t(req.lang, error, value=value[:60]))
    screen = await _update(ctx, req, change)
    return Reply(t(req.lang, "settings_saved") + "\n\n" + screen.text, screen.buttons, screen="settings")


Change = Callable[[m.Subscriber], None]
Parsed = tuple[str, Change | None]


def _typed_time(value: str) -> Parsed:
    minutes = parse_time(value)
    if minutes is None:
        return N_("bad_time"), None
    return "", lambda sub: _set_time(sub, minutes)


def _set_time(sub: m.Subscriber, minutes: int) -> None:
    sub.digest_hour, sub.digest_minute = divmod(minutes, 60)


def _typed_timezone(value: str) -> Parsed:
    try:
        zone = resolve_timezone(value)
    except TimezoneError:
        return N_("bad_timezone"), None
    return "", lambda sub: setattr(sub, "timezone", zone)


def _typed_frequency(value: str) -> Parsed:
    """instant / daily / weekly, or their button label or word in any of the bot's languages."""
    found = value_word(value, "frequency")
    if found not in FREQUENCIES:
        return N_("bad_frequency"), None
    return "", lambda sub: setattr(sub, "frequency", found)


def _typed_quiet(value: str) -> Parsed:
    if value_word(value, "quiet") == "off" or value.strip() == "0":
        return "", lambda sub: _set_quiet(sub, None, None)
    parts = re.split(r"\s*[-–—]\s*|\s+", value.strip(), maxsplit=1)
    if len(parts) != 2:
        return N_("bad_quiet"), None
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if start is None or end is None or start == end:
        return N_("bad_quiet"), None
    return "", lambda sub: _set_quiet(sub, start, end)


def _set_quiet(sub: m.Subscriber, start: int | None, end: int | None) -> None:
    sub.quiet_start, sub.quiet_end = start, end


def _typed_size(value: str) -> Parsed:
    if value_word(value, "size") == "all" or value.strip() == "0":
        return "", lambda sub: setattr(sub, "digest_size", 0)
    number = as_int(value.strip())
    if number is None or not 1 <= number <= 500:
        return N_("bad_size"), None
    return "", lambda sub: setattr(sub, "digest_size", number)


def _typed_day(value: str) -> Parsed:
    day = day_number(value)
    if day is None:
        return N_("bad_weekday"), None
    return "", lambda sub: setattr(sub, "digest_weekday", day)


def _typed_sound(value: str) -> Parsed:
    """alerts / all / none, or their button label or word in any of the bot's languages."""
    found = value_word(value, "sound")
    if found not in SOUNDS:
        return N_("bad_sound"), None
    return "", lambda sub: setattr(sub, "sound", found)


# the setting's own name; setting_named() maps what the user typed, in any of the bot's languages
_TYPED: dict[str, Callable[[str], Parsed]] = {
    "time": _typed_time,
    "timezone": _typed_timezone,
    "frequency": _typed_frequency,
    "quiet": _typed_quiet,
    "size": _typed_size,
    "day": _typed_day,
    "sound": _typed_sound,
}


async def timezone_input(ctx: CommandContext, req: Request) -> Reply:
    """The plain message sent after the Timezone button: a city or an offset."""
    key, change = _typed_timezone(req.args)
    if change is None:
        ctx.pending.expect(req.caller, "tz")  # let them try again
        return Reply(t(req.lang, key, value=req.args[:60]))
    screen = await _update(ctx, req, change)
    return Reply(t(req.lang, "settings_saved") + "\n\n" + screen.text, screen.buttons, screen="settings")


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    lang = req.lang
    action = parts[0] if parts else ""
    arg = parts[1] if len(parts) > 1 else ""
    if action == "main":
        return await _update(ctx, req, lambda sub: None)
    if action == "freq":
        row = tuple(Button(label(lang, FREQUENCY_KEYS[f]), f"s:f:{f}") for f in FREQUENCIES)
        return Reply(t(lang, "choose_frequency"), (row, _back(lang)))
    if action == "time":
        hours = [Button(f"{h:02d}", f"s:h:{h}") for h in range(24)]
        rows = tuple(tuple(hours[i : i + 6]) for i in range(0, 24, 6))
        return Reply(t(lang, "choose_hour"), (*rows, _back(lang)))
    if action == "h" and (hour := as_int(arg)) is not None and 0 <= hour <= 23:
        row = tuple(Button(f"{hour:02d}:{minute:02d}", f"s:t:{hour}:{minute}") for minute in (0, 15, 30, 45))
        return Reply(t(lang, "choose_minute", hour=f"{hour:02d}"), (row, _back(lang)))
    if action == "tz":
        ctx.pending.expect(req.caller, "tz")
        zones = [Button(describe_timezone(z, lang), f"s:z:{z}") for z in COMMON_ZONES]
        rows = tuple(tuple(zones[i : i + 2]) for i in range(0, len(zones), 2))
        return Reply(t(lang, "choose_timezone"), (*rows, _back(lang)))
    if action == "quiet":
        presets = [Button(f"{hhmm(a)}–{hhmm(b)}", f"s:q:{a}-{b}") for a, b in QUIET_PRESETS]
        rows = (tuple(presets[:2]), tuple(presets[2:]), (Button(label(lang, "off_btn"), "s:q:off"),))
        return Reply(t(lang, "choose_quiet"), (*rows, _back(lang)))
    if action == "size":
        row = tuple(Button(str(n) if n else label(lang, "size_all_btn"), f"s:n:{n}") for n in SIZES)
        return Reply(t(lang, "choose_size"), (row, _back(lang)))
    if action == "sound":
        choices: list[tuple[Button, ...]] = [(Button(label(lang, SOUND_KEYS[v]), f"s:snd:{v}"),) for v in SOUNDS]
        return Reply(t(lang, "choose_sound"), (*choices, _back(lang)))
    if action == "day":
        days = [Button(label(lang, DAY_KEYS[d]), f"s:d:{d}") for d in range(7)]
        return Reply(t(lang, "choose_weekday"), (tuple(days[:4]), tuple(days[4:]), _back(lang)))
    change = _button_change(action, parts[1:])
    if change is None:
        return Reply("", toast=t(lang, "button_stale"))
    screen = await _update(ctx, req, change)
    return Reply(screen.text, screen.buttons, toast=label(lang, "saved_toast"), screen="settings")


def _button_change(action: str, args: list[str]) -> Change | None:
    """The change a value button asks for, after checking the value as strictly as typed input."""
    arg = args[0] if args else ""
    if action == "f" and arg in FREQUENCIES:
        return lambda sub: setattr(sub, "frequency", arg)
    if action == "t" and len(args) == 2:
        hour, minute = as_int(args[0]), as_int(args[1])
        if hour is not None and minute is not None and 0 <= hour <= 23 and 0 <= minute <= 59:
            return lambda sub: _set_time(sub, hour * 60 + minute)
    if action == "z":
        return _typed_timezone(":".join(args))[1]
    if action == "q":
        return (lambda sub: _set_quiet(sub, None, None)) if arg == "off" else _quiet_minutes(arg)
    if action == "n" and (n := as_int(arg)) is not None and (n == 0 or 1 <= n <= 500):
        return lambda sub: setattr(sub, "digest_size", n)
    if action == "d" and (d := as_int(arg)) is not None and 0 <= d <= 6:
        return lambda sub: setattr(sub, "digest_weekday", d)
    if action == "snd" and arg in SOUNDS:
        return lambda sub: setattr(sub, "sound", arg)
    return None


def _quiet_minutes(arg: str) -> Change | None:
    start_text, _, end_text = arg.partition("-")
    start, end = as_int(start_text), as_int(end_text)
    if start is None or end is None or not (0 <= start < 1440 and 0 <= end < 1440) or start == end:
        return None
    return lambda sub: _set_quiet(sub, start, end)


def typed_setting(name: str, value: str) -> Parsed:
    """A setting as `/settings NAME VALUE` takes it (an imported rules file uses the same forms):
    ("", change) or (the error's key, None); an unknown name is "settings_unknown"."""
    parser = _TYPED.get(setting_named(name) or name)  # `tz`, `время`, `час` as well as `timezone`
    return parser(value) if parser is not None else (N_("settings_unknown"), None)
