# Two commands matter: `make demo` and `make test`. Both set everything up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test pytest lint validate fmt clean clean-demo

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## Run the whole product on the local stack: emulators, stand-ins, demo API, function, Pub/Sub.
demo: $(STAMP)
	$(PY) -m local.demo

## Lint, validate every config, run the test suite (pytest exit 5 = no tests = failure).
test: lint validate pytest

pytest: $(STAMP)
	$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check .

validate: $(STAMP)
	$(PY) -m ingestion validate

fmt: $(STAMP)
	$(PY) -m ruff check --fix .

## Forget the demo's persisted GCS objects, BigQuery tables, state and secrets.
clean-demo:
	rm -rf .local/demo

clean: clean-demo
	rm -rf $(VENV) .local .pytest_cache .ruff_cache
