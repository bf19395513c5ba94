# The two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export WARROOM_CONFIG ?= examples

.PHONY: run demo test lint typecheck unit bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/warroom serve

# A fresh database with three days of incidents, alerts, schedules and pages; prints a
# token to log in with. Then `make run` and open http://127.0.0.1:8080/login.
demo: $(STAMP)
	$(BIN)/warroom demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

# Two passes (docs/testing.md): the suite on one worker per core (pytest-xdist), then the
# timing-sensitive tests (marked `serial`) alone. `make test PYTEST_WORKERS=0`: no workers.
PYTEST_WORKERS ?= auto
test: lint typecheck
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup -m "not serial"
	$(BIN)/pytest -q -m serial

# schemathesis against a real server for 5 minutes per database (SQLite; PostgreSQL when
# WARROOM_TEST_DATABASE_URL is set); prints requests, status codes and 5xx counts.
fuzz: $(STAMP)
	$(BIN)/python -m tests.e2e.fuzzing --seconds $${FUZZ_SECONDS:-300}

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) warroom.db warroom.db-wal warroom.db-shm .pytest_cache .mypy_cache .ruff_cache
