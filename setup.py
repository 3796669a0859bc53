"""tgmon's C extensions, both optional (Cython):

- `bot.matching._speedups`: the tokenizer's split (bot/matching/_speedups.pyx);
- `bot.matching._matcher_native`: bot/matching/matcher.py compiled as it is, with the SHA-256 of the
  source it was built from, so that `bot.matching.native` uses it only while matcher.py is unchanged.

Where no C compiler is found the build goes on without them, and tgmon runs the same code in pure
Python (same results; benchmarks/matching.py prints which one it measured)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
MATCHER = HERE / "bot" / "matching" / "matcher.py"
GENERATED = HERE / "build" / "cython" / "_matcher_native.py"


def _matcher_twin() -> str:
    """matcher.py plus the fingerprint of its source, written outside the package (never imported)."""
    source = MATCHER.read_bytes()
    GENERATED.parent.mkdir(parents=True, exist_ok=True)
    stamp = f'\n\nSOURCE_SHA256 = "{hashlib.sha256(source).hexdigest()}"\n'.encode()
    if not GENERATED.exists() or GENERATED.read_bytes() != source + stamp:
        GENERATED.write_bytes(source + stamp)
    return str(GENERATED.relative_to(HERE))


extensions = cythonize(
    [
        Extension("bot.matching._speedups", ["bot/matching/_speedups.pyx"]),
        Extension("bot.matching._matcher_native", [_matcher_twin()]),
    ],
    compiler_directives={"language_level": "3"},
)
for extension in extensions:
    extension.optional = True  # a failed compile is a warning, not a failed install (cythonize drops the flag)

setup(ext_modules=extensions)
