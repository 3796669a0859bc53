# Two commands for a fresh machine (only Python 3.11 and the package registries needed):
#   make run    set up .venv and run tgmon (the offline demo when no Telegram credentials are configured)
#   make test   set up .venv and run lint, type checks and the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the C builds (setup.py): redone when their sources change, so a test run never measures stale code
NATIVE := $(VENV)/.native
NATIVE_SOURCES := setup.py bot/matching/_speedups.pyx bot/matching/matcher.py

.PHONY: run test setup lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(NATIVE)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(NATIVE)

setup: $(STAMP) $(NATIVE)

run: $(STAMP) $(NATIVE)
	$(BIN)/tgmon run

test: $(STAMP) $(NATIVE)
	$(BIN)/ruff check bot tests benchmarks setup.py
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build bot/matching/*.so bot/matching/_speedups.c
