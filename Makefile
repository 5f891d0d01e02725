# Wraparound: `make demo` and `make test` set up everything on a fresh machine.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# This sandbox (and many CI images) set PYTHONDONTWRITEBYTECODE=1, so without bytecode on disk
# every Python process (each pytest worker, each `wraparound` and server the tests start)
# compiled Django, Ibis, Polars and the rest from source again: about 9 s of CPU each. uv
# compiles the environment once as it installs it, and `install` compiles src/ (installed
# editable); a stale .pyc is simply recompiled in memory, never trusted.
export UV_COMPILE_BYTECODE := 1
PYTHON ?= python3.11
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= var/demo
DEMO_PATIENTS ?= 50000
DEMO_SEED ?= 42

.PHONY: install demo test lint bench clean debian-packages

$(UV):
	$(PYTHON) -m pip install --quiet --user uv==0.13.8

$(BIN)/wraparound: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# NHS.UK frontend, htmx and axe-core, served by the app straight from node_modules.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

install: $(BIN)/wraparound node_modules/.package-lock.json
	$(BIN)/python -m compileall -q src

# `app demo` writes the demo casework to the warehouse as app events (DIR/app_events/); the
# indicators then count it, and `app refresh` loads that run into the app's scorecards.
demo: install
	$(BIN)/wraparound synth --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --out $(DEMO_DIR)/warehouse --overwrite --intervention high_needs_wraparound
	$(BIN)/wraparound summary --warehouse $(DEMO_DIR)/warehouse
	$(BIN)/wraparound stratify --warehouse $(DEMO_DIR)/warehouse
	$(BIN)/wraparound demand --warehouse $(DEMO_DIR)/warehouse --quiet
	rm -f $(DEMO_DIR)/app.sqlite3*
	WRAPAROUND_DB=$(DEMO_DIR)/app.sqlite3 $(BIN)/wraparound app demo --warehouse $(DEMO_DIR)/warehouse
	$(BIN)/wraparound indicators --warehouse $(DEMO_DIR)/warehouse
	# A locality under 30k has one neighbourhood: nothing to compare with, so no evaluation (the demo goes on); after the indicators, whose series it evaluates too.
	-$(BIN)/wraparound evaluate --warehouse $(DEMO_DIR)/warehouse --intervention high_needs_wraparound --quiet
	$(BIN)/wraparound local-qof --warehouse $(DEMO_DIR)/warehouse
	WRAPAROUND_DB=$(DEMO_DIR)/app.sqlite3 $(BIN)/wraparound app refresh --warehouse $(DEMO_DIR)/warehouse > /dev/null
	# Reminders and feedback offers due now, to var/outbox/messages.jsonl (a deployment runs this hourly).
	WRAPAROUND_DB=$(DEMO_DIR)/app.sqlite3 $(BIN)/wraparound app messages send-due --no-progress > /dev/null
	@echo "Local NHS login (the portal's OpenID Connect provider) on http://127.0.0.1:8001/o"
	$(BIN)/wraparound idp serve --seed var/idp-seed.json &
	@echo "Serving on http://127.0.0.1:8000/ (Ctrl-C to stop)"
	WRAPAROUND_DB=$(DEMO_DIR)/app.sqlite3 $(BIN)/wraparound app serve --warehouse $(DEMO_DIR)/warehouse

# Debian's chromium for the browser tests (tests/browser: Playwright never downloads a browser
# here, and the tests fail, never skip, when it is missing) and PostgreSQL's server for the
# second phase, in one apt step when either is missing. Without chromium's recommends (Mesa,
# printing, desktop services: 123 packages for the two, against 30) this target installed
# them on a clean machine in 14 s here, apt-get update included, against 22.6 s for the full
# packages in two steps; the browser tests need only its fonts.
DEBIAN_PACKAGES := chromium fonts-liberation postgresql
debian-packages:
	@if [ -x /usr/bin/chromium ] && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then exit 0; fi; \
	command -v apt-get >/dev/null || { echo "no chromium or PostgreSQL server, and no apt-get to install them ($(DEBIAN_PACKAGES))" >&2; exit 1; }; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

# PYTHONDONTWRITEBYTECODE also stops pytest keeping its assertion-rewritten test modules, so
# each worker rewrote every module again in each phase (12.5 of the 16 s a collection took
# here); with it unset the PostgreSQL phase reuses the SQLite phase's (its collection 11.8 ->
# 7.2 s a worker).
test: install debian-packages
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n 2 --dist loadgroup
	# The app suite again on a real PostgreSQL server (started on loopback, stopped after),
	# but for the tests marked one_database, whose outcome the database cannot change.
	PYTHONDONTWRITEBYTECODE= scripts/with-postgres.sh $(BIN)/pytest -n 2 --dist loadgroup -p no:cacheprovider -m "not one_database" tests/app

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
