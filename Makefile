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

.PHONY: run test lint bench readme clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/oneproxy run

test: $(STAMP)
	.ci/chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not integration"
	$(BIN)/python -m pytest -q -m integration

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/oneproxy ingest --all
	$(BIN)/python -m bench.srcc
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.search --warehouse oneproxy-warehouse
	$(BIN)/python -m bench.adaproxy
	$(BIN)/python -m bench.adapt --warehouse oneproxy-warehouse
	$(BIN)/python -m bench.help_paper --space nb201 --seeds 20
	$(BIN)/python -m bench.help_paper --space fbnet --seeds 20
	$(BIN)/python -m bench.oneproxy_notebook --all-targets

readme: $(STAMP)
	$(BIN)/python -m bench.readme_blocks

clean:
	rm -rf $(VENV) oneproxy-warehouse .pytest_cache .ruff_cache
