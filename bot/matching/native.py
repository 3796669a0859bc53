"""Which build of the matching hot paths runs: the C ones setup.py compiles (Cython), or pure Python.

The compiled matcher is `matcher.py` itself, compiled with the SHA-256 of its source; it is used only
while that source is unchanged, so an edited matcher.py never runs stale C code (the pure module
runs, with a warning, until `make setup` rebuilds). Both give the same results
(tests/unit/test_matcher_properties.py); the C ones are faster (benchmarks/matching.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from bot.config import MatchingSettings
from bot.domain import Rule
from bot.matching import matcher as _pure
from bot.matching.text import NATIVE_TOKENIZER

log = logging.getLogger(__name__)


def _built_matcher() -> tuple[ModuleType | None, str]:
    try:
        from bot.matching import _matcher_native as built  # type: ignore[attr-defined]
    except ImportError:
        return None, "not built (no C compiler at install time)"
    source = Path(_pure.__file__).read_bytes()
    if getattr(built, "SOURCE_SHA256", None) != hashlib.sha256(source).hexdigest():
        log.warning("the compiled matcher is older than bot/matching/matcher.py: using the pure-Python one "
                    "until `make setup` (pip install -e .) rebuilds it")
        return None, "stale (matcher.py changed since the build)"
    return built, "compiled"


_module, MATCHER_BUILD = _built_matcher()
NATIVE_MATCHER = _module is not None
CompiledMatcher: type[_pure.CompiledMatcher] = _module.CompiledMatcher if _module else _pure.CompiledMatcher
compile_rules: Callable[..., _pure.CompiledMatcher] = _module.compile_rules if _module else _pure.compile_rules


def describe() -> str:
    """One line for logs and benchmarks: which builds are running."""
    tokenizer = "C" if NATIVE_TOKENIZER else "pure Python"
    return f"tokenizer: {tokenizer}; matcher: {MATCHER_BUILD if NATIVE_MATCHER else 'pure Python, ' + MATCHER_BUILD}"


def pure_compile_rules(rules: Iterable[Rule], *, settings: MatchingSettings | None = None) -> _pure.CompiledMatcher:
    """The pure-Python matcher, whatever is built (for the tests that compare the two)."""
    return _pure.compile_rules(rules, settings=settings)
