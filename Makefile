# Two commands for a fresh machine (only a Python >= 3.11 and the package registries needed; no C
# compiler: tgmon is pure Python, its native parts come as wheels):
#   make run    set up .venv and run tgmon (the offline demo when no Telegram credentials are configured)
#   make test   set up .venv and run lint, type checks and the whole test suite
# The venv is made with the first of python3.13, python3.12, python3.11, python3 on the PATH that is
# 3.11 or newer (or the one you name: make PYTHON=/path/to/python test); none: a clear error.
PYTHON_CANDIDATES := python3.13 python3.12 python3.11 python3
PY_OK := import sys; sys.exit(sys.version_info < (3, 11))
PYTHON ?= $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell $(p) -c '$(PY_OK)' >/dev/null 2>&1 && echo $(p))))
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-dates setup lint bench clean i18n-extract i18n-update i18n-compile i18n-init

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { test -n "$(PYTHON)" && $(PYTHON) -c '$(PY_OK)' 2>/dev/null; } || { \
	  echo "make: tgmon needs Python 3.11 or newer; none of $(PYTHON_CANDIDATES) on the PATH is one" \
	       "($(if $(PYTHON),PYTHON=$(PYTHON) is older or missing,none found)). Install one, or: make PYTHON=/path/to/python3.11+" >&2; \
	  exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,semantic]'
	touch $(STAMP)

setup: $(STAMP) i18n-compile

# The bot's languages (docs/bot.md): gettext catalogs, one .po per language under $(LOCALES); the
# message ids are keys. extract: the keys the code uses -> messages.pot; update: into every catalog
# (new keys empty, removed ones dropped, no fuzzy guesses: a key is not a sentence to guess from);
# compile: the .mo files the bot loads (without them it compiles the .po in memory at start);
# init: a new language, e.g. make i18n-init NEW=de.
LOCALES := bot/i18n/locales
PYBABEL := $(BIN)/pybabel
i18n-extract: $(STAMP)
	$(PYBABEL) extract -F babel.cfg --no-default-keywords -k t:2 -k label:2 -k plural:2,2 -k N_ -k tr -k trn:1,1 --no-location --sort-output \
	  --project=tgmon --omit-header -o $(LOCALES)/messages.pot bot

i18n-update: i18n-extract
	$(PYBABEL) update -i $(LOCALES)/messages.pot -d $(LOCALES) --ignore-obsolete --no-fuzzy-matching

i18n-compile: $(STAMP)
	$(PYBABEL) compile -d $(LOCALES)

i18n-init: i18n-extract
	@test -n "$(NEW)" || { echo "make: name the new language: make i18n-init NEW=de" >&2; exit 2; }
	$(PYBABEL) init -i $(LOCALES)/messages.pot -d $(LOCALES) -l $(NEW)

run: $(STAMP)
	$(BIN)/tgmon run

test: $(STAMP)
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-dates

# The tests marked `dates` (they read the real clock's date) again with the clock moved, child processes
# too (tests/conftest.py --travel): a year ahead, and over Europe/Kyiv's two clock changes (01:00 UTC),
# in that time zone. About a minute a date on 2 idle cores.
TRAVELS := 2028-01-15T12:00:00Z 2027-03-28T00:59:30Z 2027-10-31T00:59:30Z
test-dates: $(STAMP)
	@for when in $(TRAVELS); do \
	  echo "test-dates: the clock at $$when, TZ=Europe/Kyiv"; \
	  TZ=Europe/Kyiv TGMON_FAULT_DIGESTS=1000 $(BIN)/python -m pytest -m dates --travel $$when || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build
