# Every target creates the virtualenv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format sandbox dev bench screenshot clean

# The browser test (tests/test_browser.py) drives Debian's Chromium; installed on first use.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export QCW_CHROMIUM := $(CHROMIUM)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo

test: $(STAMP) $(CHROMIUM) lint
	$(BIN)/pytest

# The README's picture of the asset graph, taken by the browser test after a run from the UI.
screenshot: $(STAMP) $(CHROMIUM)
	QCW_SCREENSHOT_DIR=$(CURDIR)/docs $(BIN)/pytest tests/test_browser.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

sandbox: $(STAMP)
	$(BIN)/python -m pipelines.sandbox

dev: $(STAMP)
	DAGSTER_HOME=$(CURDIR)/dagster_home $(BIN)/dagster dev

# This pipeline against the download and parse floors, a naive script and dlt (benchmarks/).
BENCH_ARGS ?= --datasets small,medium --runs 3
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
