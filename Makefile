# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv at the repo root.
SHELL := bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-sail test-jvm lint format dev bench clean lock

install: $(STAMP)

# Re-install only when the dependencies change. uv is bootstrapped into the venv (it is not on every machine);
# bytecode is compiled at install time, which halves the first import of Spark, Dagster and Great Expectations.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade uv
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock -e '.[dev]'
	@touch $(STAMP)

# Pin every transitive version for reproducible installs (run after changing pyproject.toml dependencies).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

demo: install
	$(BIN)/cdp demo

# The whole suite on the embedded Sail engine, then the pure transforms again on JVM Spark local mode.
test: install test-sail test-jvm

test-sail: install
	$(BIN)/python -m pytest

test-jvm: install
	CDP_SPARK_ENGINE=jvm $(BIN)/python -m pytest -m transforms -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Dagster UI on http://127.0.0.1:3000. DAGSTER_HOME (CDP_DAGSTER_HOME) gets the dagster.yaml for CDP_ENV:
# SQLite locally, Postgres (CDP_POSTGRES_URL) in ci/prod, and the lake_writes pool that serialises lake writers.
dev: install
	DAGSTER_HOME=$$($(BIN)/python -m orchestration.instance) $(BIN)/dagster dev -m orchestration.definitions

bench: install
	$(BIN)/python benchmarks/ingest_throughput.py

clean:
	rm -rf data .pytest_cache .ruff_cache .mypy_cache
