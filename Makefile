# toxbot: every target makes its own virtual environment on first use (.venv) and is quick after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "toxbot needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install toxbot with its dev tools

run: $(STAMP)  ## run toxbot: Slack when SLACK_BOT_TOKEN is set, else the console (SQLite in ./var)
	$(BIN)/toxbot run

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy (strict)
	$(BIN)/mypy

unit: $(STAMP)  ## pytest
	$(BIN)/pytest -q

test: lint typecheck unit  ## ruff, mypy and pytest: what CI runs

bench: $(STAMP)  ## benchmarks; print tables of figures
	$(BIN)/python -m bench

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
