# SCRM developer commands. `make run` and `make test` work from a fresh clone: they create the
# virtualenv, install the pinned requirements (again only when a requirements file changes) and
# write a local .env once.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROCFILE ?= Procfile.dev
# Extra arguments for pytest, e.g. `make test ARGS="-k health -x"`.
ARGS ?=

REQUIREMENTS := requirements.txt requirements-dev.txt
# The stamp's name carries a hash of the requirements files: changing their content reinstalls,
# while a checkout that only bumps their modification time does not.
REQ_HASH := $(shell cat $(REQUIREMENTS) 2>/dev/null | $(PYTHON) -c "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")
STAMP := $(VENV)/.installed-$(REQ_HASH)

export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench migrate demo check clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) ## Create .venv and install requirements-dev.txt (only when they changed)

# Written once and never overwritten: it holds this checkout's own secret key.
.env:
	@$(PYTHON) -c "import secrets; print('DEBUG=1'); print('SECRET_KEY=' + secrets.token_urlsafe(50))" > $@
	@echo "Wrote .env (DEBUG=1 and a fresh SECRET_KEY)."

migrate: $(STAMP) .env ## Apply database migrations
	$(BIN)/python manage.py migrate --noinput

demo: migrate ## Create the admin user and load demo data (idempotent)
	$(BIN)/python manage.py demo_setup

run: demo ## Set up, then start web, Celery worker and beat (Ctrl-C stops all)
	$(BIN)/honcho -f $(PROCFILE) start

test: $(STAMP) .env ## Run the test suite (SQLite; PostgreSQL + Redis when DATABASE_URL/REDIS_URL are set)
	$(BIN)/pytest $(ARGS)

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Fix what ruff can and reformat
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: $(STAMP) .env ## Django system checks and missing migrations
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: $(STAMP) .env ## Run the benchmarks in bench/ (needs PostgreSQL; not part of tests)
	$(BIN)/python bench/run.py $(ARGS)

clean: ## Remove caches, collected static files, the test database and queued broker messages
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache staticfiles
	rm -rf var/test_db.sqlite3* var/broker

distclean: clean ## Also remove .venv, the local database (var/) and .env
	rm -rf $(VENV) var .env
