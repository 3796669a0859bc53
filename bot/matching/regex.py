"""`/pattern/` rule terms, on the RE2 engine only (linear time, no backreferences).

RE2's ``\\w``, ``\\d`` and ``\\b`` know only ASCII, so ``/\\bбатальон\\b/`` would never match. Patterns
are rewritten: ``\\w`` -> letters, digits and _ of every script, ``\\d`` -> every decimal digit, and a
``\\b`` at the start or end of the pattern becomes a check that the match starts/ends at a word
boundary (RE2 has no look-around for one in the middle). Patterns run case-insensitively over the
folded text (ё = е), so their spans are spans of the original text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.matching.errors import RuleError

_CLASSES = {"w": r"\p{L}\p{N}_", "d": r"\p{Nd}", "s": r"\s"}
_MAX_MEM = 8 << 20  # bytes RE2 may use for one pattern


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
                )
            low = nxt.lower()
            if low in ("w", "d"):
                body = _CLASSES[low]
                if in_class:
                    if nxt.isupper():
                        raise RuleError(
                            rf"\{nxt} cannot be used inside [...] in a /pattern/", column=column + i + 1,
                            example=r"/[^\s]+/",
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


@dataclass(frozen=True, slots=True)
class Regex:
    source: str  # as the user wrote it, between the slashes
    compiled: Any
    start_boundary: bool
    end_boundary: bool

    def spans(self, folded: str) -> Iterator[tuple[int, int]]:
        for match in self.compiled.finditer(folded):
            start, end = match.start(), match.end()
            if start == end:
                continue
            if self.start_boundary and start > 0 and _word_char(folded[start - 1]) == _word_char(folded[start]):
                continue
            if self.end_boundary and end < len(folded) and _word_char(folded[end - 1]) == _word_char(folded[end]):
                continue
            yield start, end


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def compile_regex(pattern: str, column: int) -> Regex:
    """Compile a /pattern/ (``column`` is where the pattern starts in the rule) or raise RuleError."""
    import re2

    if not pattern:
        raise RuleError("the /pattern/ is empty", column=column, example="/батальон\\w*/")
    rewritten, start_b, end_b = _rewrite(pattern.replace("ё", "е").replace("Ё", "Е"), column)
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = _MAX_MEM
    try:
        compiled = re2.compile(rewritten, options)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RuleError(
            f"RE2 cannot use the pattern /{pattern}/: {detail} (RE2 has no backreferences or look-around)",
            column=column,
            example="/батальон\\w*/",
        ) from None
    return Regex(pattern, compiled, start_b, end_b)
