"""tgmon's one C extension: the tokenizer in bot/matching/_speedups.pyx (Cython).

It is optional: where no C compiler is found, the build goes on without it and `bot.matching.text`
uses the same tokenizer written with `re` (same tokens and offsets, about three times slower)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = cythonize(
    [Extension("bot.matching._speedups", ["bot/matching/_speedups.pyx"])],
    compiler_directives={"language_level": "3"},
)
for extension in extensions:
    extension.optional = True  # a failed compile is a warning, not a failed install (cythonize drops the flag)

setup(ext_modules=extensions)
