# hubgate: `make run` serves the quickstart, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit smoke browser clients clients-table install lock clean i18n-extract i18n-update \
	screenshots

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	HUBGATE_ADMIN_KEY=$${HUBGATE_ADMIN_KEY:-sk-admin-quickstart} \
	$(BIN)/hubgate serve --config examples/quickstart.yaml --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite on two pytest-xdist workers (the CI machine has 2 cores; PYTEST_WORKERS=0 runs it in one
# process). `--dist worksteal` hands each worker one contiguous half of the collection (so mostly one
# database backend's session fixtures each) and moves tests from the busy one to the idle one.
PYTEST_WORKERS ?= 2
unit: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The benchmark's fast regression report: prints figures, never fails on timing.
smoke: $(STAMP)
	$(BIN)/python bench/smoke.py

test: lint typecheck smoke browser clients unit

# The console's browser tests drive Debian's Chromium through Playwright (no download).
# Under CI=true a missing Chromium is installed here; elsewhere those tests are skipped.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$CI" = "true" ]; then \
	    echo "installing Debian's chromium for the console's browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	  else echo "Chromium is not installed: the browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

# The console's screenshots in docs/screenshots/<en|zh-CN>/<desktop|phone>/ (tests/console/screenshots.py):
# the quickstart with demo data, its main pages in both languages at 1280 and 390 px. Needs Chromium and,
# for the Chinese ones, a CJK font (apt-get install fonts-noto-cjk); pngquant, when installed, shrinks them.
screenshots: $(STAMP)
	$(BIN)/python -m tests.console.screenshots

# The agent CLIs the client cells run (tests/clients/package-lock.json): `npm ci` once into
# ~/.cache/hubgate/clients/<lockfile hash>, reused while the lockfile is unchanged. Under CI=true a
# missing node/npm or a failed install fails here; elsewhere the cells are skipped with the reason.
clients: $(STAMP)
	$(BIN)/python -m tests.clients.install

# Keep the last run's client results (test-artifacts/clients-results.json) as tests/clients/results.json
# and render README's compatibility table from them.
clients-table: $(STAMP)
	$(BIN)/python -m tests.clients.table --update

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

# The console's languages (src/hubgate/console/locales): collect the marked strings into
# messages.pot, then merge them into each translation (new ones arrive untranslated: fill them
# in, tests/console/test_i18n.py fails until every one is). The .po files are read at start.
LOCALES_DIR := src/hubgate/console/locales
i18n-extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k ngettext:1,2 -k pgettext:1c,2 --no-location --omit-header \
	  --sort-output -w 110 -o $(LOCALES_DIR)/messages.pot .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i $(LOCALES_DIR)/messages.pot -d $(LOCALES_DIR) -l zh_CN --no-fuzzy-matching \
	  --ignore-obsolete -w 110

clean:
	rm -rf $(VENV) data test-artifacts .mypy_cache .pytest_cache .ruff_cache

# The benchmark (bench/README.md): nginx upstream, wrk load, hubgate against nginx
# direct, a bare pass-through, LiteLLM and Portkey; writes bench/results/<date>.*
# Takes about half an hour; `make bench BENCH_ARGS="--quick --targets direct,hubgate"` for a smoke run.
# By default it also rewrites README.md's benchmark table from the run (--update-readme);
# any BENCH_ARGS replace that default, so smoke runs leave the README alone.
BENCH_VENV := bench/.venvs/tools
BENCH_ARGS ?= --update-readme
.PHONY: bench
bench: $(STAMP)
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

# Memory over a million requests (bench/soak.py, ~5 minutes) and hubgate against a
# database filled with 100,000 keys, 1,000 channels and 10,000,000 usage rows
# (bench/scale.py, ~30 minutes); both write bench/results/<date>-{soak,scale}.*
SOAK_ARGS ?=
SCALE_ARGS ?=
.PHONY: bench-soak bench-scale
bench-soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py $(SCALE_ARGS)
