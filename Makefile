# costbt developer tasks. `make` alone lists them.
#
# The virtualenv is rebuilt from scratch whenever requirements.lock or pyproject.toml changes
# (tracked by the stamp file $(STAMP)); with neither changed, targets reuse it without calling pip.

PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

# pip uses PyPI only: a machine's own find-links / extra index (pip.conf, PIP_* variables) are
# ignored so that every machine installs the same hashed files from requirements.lock.
# PIP_CERT and other PIP_* settings still apply. Override with `make setup PIP_ENV=` to use them.
PIP_ENV ?= env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_NO_INDEX \
	PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
PIP := $(PIP_ENV) $(BIN)/pip

# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k compat"`.
PYTEST_ARGS ?=
# Extra arguments for `uv pip compile`, e.g. `make lock LOCK_ARGS=--upgrade`.
LOCK_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help setup lock demo test lint format bench wheel-smoke clean

help: ## List the targets
	@echo "costbt make targets:"
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-8s %s\n", $$1, $$2 }'

$(STAMP): requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --progress-bar off --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP) ## Create .venv from requirements.lock (only when the lock or pyproject changed)

LOCK_CMD = uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --generate-hashes $(LOCK_ARGS) -o requirements.lock

# An unchanged lock keeps its timestamp, so `make lock` alone does not force a venv rebuild.
lock: ## Regenerate requirements.lock from pyproject.toml (needs uv)
	@prev=$$(mktemp); cp -p requirements.lock "$$prev" 2>/dev/null || true; \
	echo '$(LOCK_CMD)'; $(LOCK_CMD) >/dev/null; status=$$?; \
	if [ $$status -eq 0 ] && cmp -s requirements.lock "$$prev"; then \
		touch -r "$$prev" requirements.lock; echo "requirements.lock unchanged"; fi; \
	rm -f "$$prev"; exit $$status

demo: setup ## Backtest the flagship strategy on the bundled data and write its HTML report
	$(BIN)/costbt backtest --strategy below_cost --report reports/out/below_cost.html

# The PostgreSQL cases of tests/backtest/test_tuning_workers.py need Debian's `postgresql` package
# (its server binaries; `.ci/run` installs it): without it they skip and say so. No root needed:
# the tests start their own server on 127.0.0.1.
# --dist loadgroup: each test file, and each group of files in tests/conftest.py, runs whole on
# one worker (tests/conftest.py says why).
test: setup ## Run the test suite on 2 workers (benchmarks excluded)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not bench" $(PYTEST_ARGS)

lint: setup ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## ruff format, then ruff check --fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Run benchmarks/bench_*.py (see benchmarks/README.md)
	$(BIN)/python scripts/run_benchmarks.py

wheel-smoke: setup ## Build the wheel, install it in a fresh venv, smoke-test it from two folders
	scripts/wheel_smoke.sh

clean: ## Remove .venv, caches and build output
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .benchmarks build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
