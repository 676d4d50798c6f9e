# Agora: registration, feedback and reports for large conferences.
# `make help` lists the targets.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create or update .venv from the pinned requirements

.PHONY: translations
translations: $(STAMP) ## Compile the message catalogues (shared/ and each service's)
	@for dir in shared/translations services/*/translations; do \
		if [ -d $$dir ]; then $(BIN)/pybabel compile --directory $$dir || exit 1; fi; \
	done

.PHONY: run
run: $(STAMP) translations ## Start everything (embedded Redis and SQLite unless configured)
	$(BIN)/python -m tools.run

.PHONY: test
test: $(STAMP) translations ## Run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: test-browser
test-browser: $(STAMP) translations ## Only the browser tests (Chromium; screenshots of failures in var/browser-failures)
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff (lint and format check) and mypy on shared/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: format
format: $(STAMP) ## Reformat the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: bench
bench: $(STAMP) translations ## Benchmarks (registration and feedback rushes, notifier, report); print figures
	$(BIN)/python -m tools.bench $(BENCH_ARGS)
	$(BIN)/python -m tools.bench_feedback $(BENCH_FEEDBACK_ARGS)
	$(BIN)/python -m tools.bench_services $(BENCH_SERVICES_ARGS)

.PHONY: clean
clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var
