# `make run`: set up and run the server (embedded PostgreSQL, demo data) on http://127.0.0.1:8000
# `make test`: set up and run the whole test suite
# `make dashboard`: regenerate the Grafana dashboard JSON (deploy/grafana/)
# The first Python 3.11+ that actually runs (pyenv shims exist for versions that are not active).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint schema bench dashboard

# requirements.lock: what the server needs (the image installs only it); requirements-dev.lock
# adds the tests' and tools' pins on top of it
$(STAMP): requirements.lock requirements-dev.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $(STAMP)

# Local exploration: callers on 127.0.0.1 need no API key (production default: read only).
run: $(STAMP)
	ANONYMOUS_SCOPES=$${ANONYMOUS_SCOPES:-inventory:read,inventory:reserve,inventory:write,admin} \
		$(BIN)/python server.py serve --seed

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

schema: $(STAMP)
	$(BIN)/python server.py export-schema > schema.graphql

# deploy/grafana/inventory-dashboard.json from deploy/grafana/dashboard.py
dashboard: $(STAMP)
	$(BIN)/python deploy/grafana/dashboard.py

bench: $(STAMP)
	$(BIN)/python -m bench
