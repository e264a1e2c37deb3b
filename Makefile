# The README's two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := run

# Django 6 needs Python 3.12+: take the newest interpreter that is new enough.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Runboard needs Python 3.12 or newer on PATH." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install run test lint format worker bench
install: $(BIN)/.installed

# Development: without DEBUG, settings refuse to start without a SECRET_KEY of your own.
run worker: export DEBUG ?= true

## Set up, load the demo, and serve Runboard with a worker on http://$(HOST):$(PORT) (Ctrl-C stops both).
run: install
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python manage.py demo
	@trap 'kill 0' EXIT; \
	$(BIN)/python manage.py worker --no-reload --verbosity 0 & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## The whole test suite: SQLite by default, PostgreSQL when DATABASE_URL is set.
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

worker: install
	$(BIN)/python manage.py worker --no-reload

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/activity.py
