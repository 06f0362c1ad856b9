# The two entry points of the README: `make demo` and `make test`. Both create or refresh
# .venv from pyproject.toml by themselves (the stamp file is older than pyproject.toml).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint typecheck pytest clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/presales demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The store tests run against SQLite and against a throwaway PostgreSQL server on
# 127.0.0.1, started (and the Debian package installed where missing) by the script; the
# report test renders HTML in Debian's headless Chromium (installed where missing).
pytest: $(STAMP)
	scripts/ensure-chromium
	scripts/with-postgres $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

# The lane to run while working: ruff, mypy and the tests not marked `slow` (end to end, the
# CLI as a process, over ~3 s) or `postgres` (the PostgreSQL half of the store tests), so it
# needs neither PostgreSQL nor Chromium; one pytest-xdist worker per core. `make test` still
# runs everything, in one process; see tests/fast_lane.py.
test-fast: lint typecheck
	$(BIN)/python -m pytest -q -n auto -m "not slow and not postgres" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .demo
