# Two commands matter: `make demo` and `make test`. Both set everything up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: help demo test pytest unit lint validate fmt bench deploy deploy-dry-run clean clean-demo

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

help:
	@grep -B1 -E '^[a-z-]+:' Makefile | grep -E '^## ' -A1 | grep -vE '^--' | paste - - | sed -E 's/^## (.*)\t([a-z-]+):.*/  make \2\t\1/' | expand -t 24

## Run the whole product on the local stack: emulators, stand-ins, demo API, function, Pub/Sub.
demo: $(STAMP)
	$(PY) -m local.demo

## Lint, validate every config, run the test suite (pytest exit 5 = no tests = failure).
test: lint validate pytest

pytest: $(STAMP)
	$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## The fast tests only (tests/unit: no emulator, no local stack; pytest exit 5 = failure).
unit: $(STAMP)
	$(PY) -m pytest tests/unit; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## The suite against dlt on a loopback API, and the performance targets (BENCH_ARGS="--records 20000").
bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## Ruff on the Python, shellcheck on deploy/*.sh.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/shellcheck -x deploy/*.sh

## Validate every config and schema JSON.
validate: $(STAMP)
	$(PY) -m ingestion validate

## Deploy to Google Cloud: make deploy PROJECT=my-project [REGION=us-central1] (see README "Deploy").
deploy: $(STAMP)
	PYTHON=$(PY) deploy/deploy.sh --project "$(PROJECT)" $(if $(REGION),--region "$(REGION)")

## Print every command `make deploy` would run, run none.
deploy-dry-run: $(STAMP)
	PYTHON=$(PY) deploy/deploy.sh --project "$(or $(PROJECT),my-project)" $(if $(REGION),--region "$(REGION)") --dry-run

fmt: $(STAMP)
	$(PY) -m ruff check --fix .

## Forget the demo's persisted GCS objects, BigQuery tables, state and secrets.
clean-demo:
	rm -rf .local/demo

clean: clean-demo
	rm -rf $(VENV) .local .pytest_cache .ruff_cache
