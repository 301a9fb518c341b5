# Two entry points for a fresh machine with Python >= 3.11 and make:
#   make run   set up .venv and run the whole batch
#   make test  set up .venv with test extras and run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pinned public files: a sibling mirror folder is used when present, else they are downloaded.
ONEPROXY_MIRROR ?= $(abspath $(wildcard ../shared/datasets))
export ONEPROXY_MIRROR

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/oneproxy run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/oneproxy ingest --all
	$(BIN)/python -m bench.srcc
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.search --warehouse oneproxy-warehouse
	$(BIN)/python -m bench.adaproxy
	$(BIN)/python -m bench.adapt --warehouse oneproxy-warehouse

clean:
	rm -rf $(VENV) oneproxy-warehouse .pytest_cache .ruff_cache
