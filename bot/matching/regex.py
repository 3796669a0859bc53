"""`/pattern/` rule terms, on the RE2 engine only (linear time, no backreferences).

RE2's ``\\w``, ``\\d`` and ``\\b`` know only ASCII, so ``/\\bбатальон\\b/`` would never match. Patterns
are rewritten: ``\\w`` -> letters, digits and _ of every script, ``\\d`` -> every decimal digit, and a
``\\b`` at the start or end of the pattern becomes a check that the match starts/ends at a word
boundary (RE2 has no look-around for one in the middle). Patterns run case-insensitively over the
folded text (ё = е), so their spans are spans of the original text.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.matching.errors import RuleError

log = logging.getLogger(__name__)

_UNANCHORED: Any = None  # RE2's anchor for a search anywhere in the text, set on the first compile

_CLASSES = {"w": r"\p{L}\p{N}_", "d": r"\p{Nd}", "s": r"\s"}
# bytes RE2 may use for one pattern (its program and its DFA cache). 2 MiB holds the largest program we
# accept (MAX_PROGRAM) and the DFA states posts need; RE2's default of 8 MiB let 500 regex rules hold
# about 40 MiB more at no measured gain in speed (docs/benchmarks.md, "Process sizes and start-up").
_MAX_MEM = 2 << 20

# RE2 runs in time linear in the text, but the factor grows with the compiled program, and some
# small patterns compile to big ones (`(a?){1000}`: 4,000 instructions; each \w: ~1,300, it is every
# letter of every script). One subscriber's regex must not slow everyone's matching, so:
# - a pattern compiles to at most MAX_PROGRAM instructions (a rule's parse refuses a bigger one);
# - a new rule's regexes are timed on worst-case posts before it is accepted (`check_cost`): at most
#   COST_LIMIT on each, so 1,000 accepted regexes stay within a few seconds on the worst post;
# - in production a regex reads at most REGEX_TEXT characters of a post; once the regexes of a post
#   have spent POST_BUDGET seconds, only the cheap ones (under CHEAP on their last post) still run on
#   it, so a costly regex never delays the others'; and a regex that takes more than SLOW_RUN on a
#   post STRIKES times is switched off in this process (`Regex.spans`).
# What refuses a pattern at `/watch` or switches a regex off is this thread's CPU time
# (`time.thread_time`), not the wall clock: other processes on a busy machine must do neither. The
# per-post budget and a regex's cost on its last post are wall time (a system call per run on the CPU
# clock would cost more than most runs); a run over SLOW_RUN is timed again on the CPU clock.
MAX_PROGRAM = 20_000  # RE2 instructions: `\w{3,10}ский` is ~13,000
REGEX_TEXT = 8_192  # characters of a post a regex reads: twice Telegram's 4,096 for a message
COST_TEXT = 4_096  # characters of each worst-case post a new regex is timed on
COST_LIMIT = 0.003  # seconds a new regex may take on one of them (an ordinary one takes ~0.1 ms)
POST_BUDGET = 0.25  # seconds all the regexes of one post may take before the costly ones skip it
CHEAP = 0.0002  # seconds: a regex that took less on its last post runs whatever the budget
SLOW_RUN = 0.05  # seconds: one regex on one post
STRIKES = 3  # slow runs before a regex is switched off (in this process)
_REPORT_EVERY = 60.0  # seconds between two warnings about skipped regexes
MAX_MATCHES = 200  # matches of one regex read in one post (so at most that many highlights)


def _rewrite(pattern: str, column: int) -> tuple[str, bool, bool]:
    """(pattern with Unicode classes, \\b at start, \\b at end)."""
    start_b = pattern.startswith(r"\b")
    if start_b:
        pattern = pattern[2:]
    end_b = pattern.endswith(r"\b") and not pattern.endswith(r"\\b")
    if end_b:
        pattern = pattern[:-2]
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in "bB":
                raise RuleError(
                    r"\b and \B work only at the very start or end of a /pattern/ (RE2 has no look-around)",
                    column=column + i + 1,
                    example=r"/\bбатальон\w*/",
                    code="regex_boundary",
                )
            low = nxt.lower()
            if low in ("w", "d"):
                body = _CLASSES[low]
                if in_class:
                    if nxt.isupper():
                        raise RuleError(
                            rf"\{nxt} cannot be used inside [...] in a /pattern/", column=column + i + 1,
                            example=r"/[^\s]+/", code="regex_class_escape", escape="\\" + nxt,
                        )
                    out.append(body)
                else:
                    out.append(f"[{'^' if nxt.isupper() else ''}{body}]")
                i += 2
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out), start_b, end_b


class BadCharacterError(RuleError):
    """A rule with a control character (NUL included) or a lone surrogate in it."""

    key = "rule_bad_character"  # the bot's own reply (bot/i18n)

    def __init__(self, message: str, **details: Any) -> None:
        details.setdefault("code", "bad_character")
        super().__init__(message, **details)


class RegexTooSlowError(RuleError):
    """A /pattern/ too slow to run on every post (`check_cost`)."""

    key = "regex_too_slow"

    def __init__(self, message: str, **details: Any) -> None:
        details.setdefault("code", "regex_too_slow")
        super().__init__(message, **details)


class RegexNoLiteralError(RuleError):
    """A /pattern/ with no fixed text it requires (literals.py): it would run on every post."""

    def __init__(self, message: str, **details: Any) -> None:
        details.setdefault("code", "regex_no_literal")
        super().__init__(message, **details)


def check_literals(regex: Regex) -> None:
    """Raise RuleError when ``regex`` requires no literal of MIN_LITERAL characters: the matcher
    could not narrow it, and it would cost every post of every channel (a new rule's check at /watch)."""
    from bot.matching.literals import MIN_LITERAL, required_literals

    if not required_literals(regex.source):
        raise RegexNoLiteralError(
            f"the pattern /{regex.source}/ has no fixed text of {MIN_LITERAL} or more letters that every match "
            "contains, so it would be run on every post; put one in",
            example="/конд[а-я]{2,6}/",
            pattern=regex.source,
        )


class _Post(threading.local):
    """The post the regexes of this thread are reading: its text as they read it, and the time spent."""

    def __init__(self) -> None:
        self.folded: str | None = None
        self.text = ""
        self.data = b""  # `text` in UTF-8, encoded once for all the regexes of the post
        self.spent = 0.0
        self.skipped = 0  # regex runs skipped (budget spent) since the last warning
        self.reported = float("-inf")


_POST = _Post()


def begin_post(folded: str) -> None:
    """Start the regex budget of a new post (`Regex.spans` does it itself when it sees a new text;
    a matcher may call it first to make the boundary explicit)."""
    post = _POST
    post.folded = folded
    text = folded[:REGEX_TEXT]
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: RE2 takes UTF-8 only; same length, same offsets
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
        data = text.encode("utf-8")
    post.text = text
    post.data = data
    post.spent = 0.0


@dataclass(slots=True)
class _Health:
    last_cost: float = 0.0  # seconds on the last post it read
    slow_runs: int = 0
    off: bool = False
    warm: bool = False  # `Regex.warm_up` has run


# What posts are made of, folded: the letters of the Russian, Ukrainian and English alphabets, digits,
# spaces and punctuation (`Regex.warm_up` reads a required literal followed by each run of six).
_ALPHABET = ("абвгдежзийклмнопрстуфхцчшщъыьэюяіїєґ" "abcdefghijklmnopqrstuvwxyz" "0123456789"
             " .,:!?-'«»\n_#@🔥")
WARM_LITERALS = 3  # required literals of a pattern its warm-up text holds (of up to 16 alternatives)


@dataclass(frozen=True, slots=True)
class Regex:
    source: str  # as the user wrote it, between the slashes
    compiled: Any
    start_boundary: bool
    end_boundary: bool
    health: _Health = field(default_factory=_Health, compare=False, hash=False, repr=False)

    def spans(self, folded: str) -> list[tuple[int, int]]:
        """Where the pattern matches the first REGEX_TEXT characters of ``folded``, within the post's
        regex budget (see the module's bounds): nothing once this regex was switched off as too
        slow, or when it is a costly one and the post's budget is spent."""
        post = _POST
        if post.folded is not folded:
            begin_post(folded)
        health = self.health
        if health.off:
            return []
        if post.spent >= POST_BUDGET and health.last_cost >= CHEAP:
            _skipped(post)
            return []
        # the wall clock, read in nanoseconds without a system call; a run over SLOW_RUN is timed
        # again in this thread's CPU time before it counts against the regex (`_strike`)
        started = time.perf_counter()
        try:
            return self._spans(post.text, post.data)
        finally:
            took = time.perf_counter() - started
            post.spent += took
            health.last_cost = took
            if took > SLOW_RUN:
                self._strike(post)

    def warm_up(self, literals: Sequence[str]) -> None:
        """Run the pattern once over a short sample of what posts are made of (its ``literals``, each
        followed by every run of letters, digits and punctuation, and a line of prose), so that RE2
        builds the part of its DFA that posts need now, not while matching them. RE2 builds its DFA
        state by state as it reads text: a new pattern with a \\w (every letter of every script)
        spends up to 50 µs a post on new states for hundreds of posts; the sample costs about 1.5 ms
        once. Once per pattern (the parsed rules are cached, so a rebuild warms only new ones)."""
        health = self.health
        if health.warm:
            return
        health.warm = True
        sample = [_PROSE.lower().replace("ё", "е")]
        for literal in literals[:WARM_LITERALS]:
            sample += [literal + _ALPHABET[i : i + 6] for i in range(0, len(_ALPHABET), 4)]
        self._spans(" ".join(sample))

    def _strike(self, post: _Post) -> None:
        """A run took over SLOW_RUN of wall time: run it again on this thread's CPU clock (another
        process on a busy machine must not switch a subscriber's regex off), and count a strike
        when it is still over; STRIKES of them switch the regex off in this process."""
        started = time.thread_time()
        self._spans(post.text, post.data)
        if time.thread_time() - started <= SLOW_RUN:
            return
        health = self.health
        health.slow_runs += 1
        if health.slow_runs >= STRIKES:
            health.off = True
            log.warning("a regex term (RE2 program size %d) took over %.2f s on %d posts: switched off",
                        self.compiled.programsize, SLOW_RUN, STRIKES)

    def _spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        """Where the pattern matches ``text`` (``data``: the same in UTF-8, when the caller has it).
        RE2 reads the bytes (the binding would encode a str again for every regex); the offsets of
        a match are turned into character offsets only for the matches there are."""
        if data is None:
            data = text.encode("utf-8", "replace")
        ascii_only = len(data) == len(text)
        last_byte = last_char = 0
        out: list[tuple[int, int]] = []
        # RE2's own search, called directly: the binding's `finditer` is a Python generator that
        # makes a match object a match; this loop takes the same steps without them
        search = self.compiled._regexp.Match
        pos, endpos = 0, len(data)
        for _ in range(MAX_MATCHES):  # each match costs microseconds: `/x*/` matches everywhere
            start, end = search(_UNANCHORED, data, pos, endpos)[0]
            if start < 0:
                break
            if end == pos:  # empty where the search began: one byte on, as the binding's finditer does
                if pos == endpos:
                    break
                pos += 1
            else:
                pos = end
            if start == end:
                continue
            if not ascii_only:  # byte offsets to character offsets, reading each byte once
                last_char += len(data[last_byte:start].decode("utf-8"))
                last_byte = start
                start = last_char
                end = start + len(data[last_byte:end].decode("utf-8"))
            if self.start_boundary and start > 0 and _word_char(text[start - 1]) == _word_char(text[start]):
                continue
            if self.end_boundary and end < len(text) and _word_char(text[end - 1]) == _word_char(text[end]):
                continue
            out.append((start, end))
        return out


def _skipped(post: _Post) -> None:
    """Count a skipped run; say so in the log at most once a minute."""
    post.skipped += 1
    now = time.monotonic()
    if now - post.reported >= _REPORT_EVERY:
        log.warning("%d costly regex runs skipped on posts whose regex budget (%.2f s) was spent",
                    post.skipped, POST_BUDGET)
        post.reported, post.skipped = now, 0


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def bad_character(text: str) -> int | None:
    """The index of the first character a rule may not hold: a control character (NUL included) or
    a lone UTF-16 surrogate (not text at all; RE2 and the databases refuse it). None: all fine."""
    for i, ch in enumerate(text):
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n\r") or 0x7F <= code < 0xA0 or 0xD800 <= code <= 0xDFFF:
            return i
    return None


def compile_regex(pattern: str, column: int) -> Regex:
    """Compile a /pattern/ (``column`` is where the pattern starts in the rule) or raise RuleError."""
    import re2

    global _UNANCHORED
    _UNANCHORED = re2._Anchor.UNANCHORED
    if not pattern:
        raise RuleError("the /pattern/ is empty", column=column, example="/батальон\\w*/", code="regex_empty")
    bad = bad_character(pattern)
    if bad is not None:
        raise BadCharacterError("the /pattern/ holds a control or invalid character; type it as plain text",
                        column=column + bad, example="/батальон\\w*/")
    rewritten, start_b, end_b = _rewrite(pattern.replace("ё", "е").replace("Ё", "Е"), column)
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = _MAX_MEM
    try:
        compiled = re2.compile(rewritten.encode("utf-8"), options)  # matched against UTF-8 bytes
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RuleError(
            f"RE2 cannot use the pattern /{pattern}/: {detail} (RE2 has no backreferences or look-around)",
            column=column,
            example="/батальон\\w*/",
            code="regex_invalid",
            pattern=pattern,
        ) from None
    if compiled.programsize > MAX_PROGRAM:
        raise RuleError(
            f"the pattern /{pattern}/ is too complex ({compiled.programsize:,} RE2 instructions, the limit is "
            f"{MAX_PROGRAM:,}); use fewer or smaller repetitions (each \\w is every letter of every script)",
            column=column,
            example="/батальон\\w*/",
            code="regex_too_complex",
            pattern=pattern,
        )
    return Regex(pattern, compiled, start_b, end_b)


# ---- the cost of a new regex ------------------------------------------------------------------

_PROSE = ("Обстрел Белгорода: 5 раненых, батальон «Белгород» на позициях. Shelling of Shebekino, "
          "self-defense units 2026-11-03. Обстріл Харкова, ЗСУ. ")


def worst_posts(pattern: str, length: int = COST_TEXT) -> list[str]:
    r"""Posts (folded, as the matcher gives them to regexes) that make ``pattern`` work hard: its own
    letters and digits mixed at random, long runs of one character (its three most frequent ones,
    and a Latin letter, a Cyrillic one, a digit and a space: what \w, \d, \s and . take), and prose."""
    own = [ch for ch in pattern.lower() if ch.isalnum() or ch in " -_.@#"]
    rng = random.Random(length)  # the same posts every time
    letters = sorted(set(own) | set("aб1 "))
    posts = ["".join(rng.choice(letters) for _ in range(length))]
    frequent = sorted(set(own), key=lambda ch: (-own.count(ch), ch))[:3]
    posts += [ch * length for ch in dict.fromkeys([*frequent, "a", "б", "1", " "])]
    posts.append((_PROSE * (length // len(_PROSE) + 1))[:length].lower().replace("ё", "е"))
    return posts


def regex_cost(regex: Regex, length: int = COST_TEXT, limit: float = COST_LIMIT) -> float:
    """The seconds ``regex`` takes on the worst of `worst_posts` of ``length`` characters. A run over
    ``limit`` (up to 20 times it) is timed again and the faster kept: RE2 builds its DFA on the first
    run and keeps it for the next posts, as it does in production, and a pause of the machine does
    not count against the pattern. The posts after one over ``limit`` are not tried."""
    worst = 0.0
    for text in worst_posts(regex.source, length):
        started = time.thread_time()
        regex._spans(text)
        took = time.thread_time() - started
        if limit < took <= 20 * limit:  # maybe the DFA's first build, or a pause: once more, warm
            started = time.thread_time()
            regex._spans(text)
            took = min(took, time.thread_time() - started)
        worst = max(worst, took)
        if worst > limit:
            break
    return worst


def check_cost(regex: Regex) -> None:
    """Raise RuleError when ``regex`` is too slow to run on every post for everyone (`COST_LIMIT` on a
    worst-case post of COST_TEXT characters). Short posts first, with a lenient share of the limit,
    so a very slow pattern is refused in milliseconds, not seconds."""
    for length, slack in ((256, 8), (1024, 4), (COST_TEXT, 1)):
        limit = COST_LIMIT * length / COST_TEXT * slack
        if regex_cost(regex, length, limit) > limit:
            raise RegexTooSlowError(
                f"the pattern /{regex.source}/ is too slow to run on every post (over {COST_LIMIT * 1000:.0f} ms "
                f"on a {COST_TEXT:,}-character post); use fewer optional parts and repetitions",
                example="/батальон\\w*/",
                pattern=regex.source,
            )
