# Two commands matter: `make demo` and `make test`. Both set everything up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
AIRBYTE_VENV := .local/bench-airbyte
AIRBYTE_STAMP := $(AIRBYTE_VENV)/.installed

.PHONY: help demo test pytest unit lint validate fmt bench deploy deploy-dry-run clean clean-demo pubsub-emulator chromium

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

# Airbyte's CDK pins many packages: a venv of its own, so .venv (the function's, the tests') never changes.
$(AIRBYTE_STAMP): bench/requirements-airbyte.txt
	test -x $(AIRBYTE_VENV)/bin/python || $(PYTHON) -m venv $(AIRBYTE_VENV)
	$(AIRBYTE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements-airbyte.txt
	touch $(AIRBYTE_STAMP)

help:
	@grep -B1 -E '^[a-z-]+:' Makefile | grep -E '^## ' -A1 | grep -vE '^--' | paste - - | sed -E 's/^## (.*)\t([a-z-]+):.*/  make \2\t\1/' | expand -t 24

## Run the whole product on the local stack: emulators (GCS, BigQuery, Pub/Sub), the Secret Manager stand-in, demo API, function.
demo: pubsub-emulator $(STAMP)
	$(PY) -m local.demo

## Lint, validate every config, run the test suite (pytest exit 5 = no tests = failure).
test: pubsub-emulator lint validate pytest

pytest: pubsub-emulator chromium $(STAMP)
	$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## The fast tests only (tests/unit: no emulator, no local stack; pytest exit 5 = failure).
unit: $(STAMP)
	$(PY) -m pytest tests/unit; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## The suite against dlt and Airbyte on a loopback API, and the performance targets (BENCH_ARGS="--only windows").
bench: pubsub-emulator $(BENCH_STAMP) $(AIRBYTE_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## Check that Google's Pub/Sub emulator is installed (the local stack runs on it); else print how.
pubsub-emulator:
	@$(PYTHON) -m local.pubsub_emulator

## Headless Chromium for the status page test: apt-get installs it where we are root; else how.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  msg="tests/integration/test_status_page.py renders the status page in it and fails without it"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get): $$msg"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "chromium: apt-get install failed; $$msg" >&2; \
	  else \
	    echo "chromium is missing and not installed here (needs root and apt-get): run" \
	      "'sudo apt-get install -y chromium'; $$msg" >&2; \
	  fi; }

## Ruff on the Python, shellcheck on deploy/*.sh.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/shellcheck -x deploy/*.sh

## Validate every config and schema JSON.
validate: $(STAMP)
	$(PY) -m ingestion validate

## Deploy to Google Cloud: make deploy PROJECT=my-project [REGION=...] [NOTIFY="email:oncall@example.com ..."].
deploy: $(STAMP)
	PYTHON=$(PY) NOTIFY="$(NOTIFY)" deploy/deploy.sh --project "$(PROJECT)" $(if $(REGION),--region "$(REGION)")

## Print every command `make deploy` would run, run none.
deploy-dry-run: $(STAMP)
	PYTHON=$(PY) NOTIFY="$(NOTIFY)" deploy/deploy.sh --project "$(or $(PROJECT),my-project)" $(if $(REGION),--region "$(REGION)") --dry-run

fmt: $(STAMP)
	$(PY) -m ruff check --fix .

## Forget the demo's persisted GCS objects, BigQuery tables, state and secrets.
clean-demo:
	rm -rf .local/demo

clean: clean-demo
	rm -rf $(VENV) .local .pytest_cache .ruff_cache
