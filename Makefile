# Two entry points matter: `make demo` (the main job against the embedded emulator) and
# `make test` (everything CI checks). Both build their own virtualenv, so a fresh clone
# needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SPEC ?= examples/widgets.yaml

.PHONY: demo test lint typecheck unit clean install dev soak bench lock

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("turnstile-sync needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/turnstile-sync plan $(SPEC) --emulator
	$(BIN)/turnstile-sync apply $(SPEC) --emulator --auto-approve --secrets-out .turnstile-sync/demo-secrets.json
	$(BIN)/turnstile-sync plan $(SPEC) --emulator --detailed-exitcode

# zizmor audits the action and the example workflows, named one by one; --offline: no GitHub
# API calls, so lint needs no network and no token (the online-only audits are skipped).
WORKFLOWS := action.yml $(wildcard examples/github/*.yml)

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/zizmor --offline --min-severity medium $(WORKFLOWS)

typecheck: dev
	$(BIN)/mypy

unit: dev
	$(BIN)/pytest -q

test: lint typecheck unit

# The fault properties with fresh seeds for SOAK_MINUTES (default 10), then a tally of runs,
# faults injected, duplicates found and widgets lost. Not part of `make test`.
# Plan and apply cost against the Python SDK and a Terraform-style refresh (docs/benchmarks.md).
bench: dev
	$(BIN)/python -m benchmarks.run

# The release artefacts: an sdist, then a wheel built from that sdist (what `python -m build`
# does, so a broken sdist fails here), into dist/; twine checks their metadata and README.
.PHONY: dist
dist: dev
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

SOAK_MINUTES ?= 10
soak: dev
	$(BIN)/python -m tests.properties.soak --minutes $(SOAK_MINUTES)

# The GitHub Action's hashed lock (requirements/action.txt): pyproject's runtime dependencies
# and the build backend, pinned with every file's sha256, so the action installs them with
# --require-hashes. Needs PyPI; run it with the lowest supported Python (3.11) after changing
# a dependency, and commit the result. pip-tools lives in a throwaway venv, not in the project.
LOCK_VENV := .turnstile-sync/lock-venv
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet pip-tools
	cd requirements && ../$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	  --build-deps-for wheel --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --output-file action.txt ../pyproject.toml

clean:
	rm -rf $(VENV) .turnstile-sync .mypy_cache .ruff_cache .pytest_cache dist build
