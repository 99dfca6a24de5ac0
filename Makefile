# hubgate: `make run` serves the quickstart, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit smoke install lock clean

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

unit: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The benchmark's fast regression report: prints figures, never fails on timing.
smoke: $(STAMP)
	$(BIN)/python bench/smoke.py

test: lint typecheck smoke unit

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache

# The benchmark (bench/README.md): nginx upstream, wrk load, hubgate against nginx
# direct, a bare pass-through, LiteLLM and Portkey; writes bench/results/<date>.*
# Takes about half an hour; `make bench BENCH_ARGS="--quick --targets direct,hubgate"` for a smoke run.
BENCH_VENV := bench/.venvs/tools
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP)
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)
