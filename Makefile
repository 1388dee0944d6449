# Every target creates the virtualenv and installs what it needs on first use, each set under a
# stamp of its own: the runtime dependencies (the demo, the sandbox, the UI), the dev extra (the
# tests and lint) and the bench extra (the benchmarks). So `make demo` on a fresh clone installs
# only the runtime.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CREATED := $(VENV)/.created
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
BENCH := $(VENV)/.installed-bench

# `make dev PORT=3001`: the Dagster UI's port. The asset graph is the page of the project's one
# asset group in its code location ([tool.dg] in pyproject.toml), not the Overview page the UI
# opens on.
PORT ?= 3000
GRAPH_URL = http://127.0.0.1:$(PORT)/locations/quantconnect_warehouse/asset-groups/quantconnect
# The speed the sandbox can take, as `make demo` syncs it: 8 requests in flight, no rate ceiling
# (the sync's default ceilings, 8 and 10/s, are for the real API).
SANDBOX_SPEED := QC_MAX_CONCURRENCY=8 QC_MAX_REQUESTS_PER_SECOND=0

.PHONY: install demo test lint format sandbox dev bench screenshot clean

# The browser test (tests/test_browser.py) drives Debian's Chromium; installed on first use.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export QCW_CHROMIUM := $(CHROMIUM)
# The terminal test (tests/test_terminal.py) runs the README's commands in Debian's tmux; installed
# on first use. Not $(TMUX): tmux sets TMUX in the environment of the shells it runs.
TMUX_BIN ?= /usr/bin/tmux
# The lake's tests start throwaway PostgreSQL clusters (tests/services.py): Debian's server.
POSTGRES_DIR ?= /usr/lib/postgresql

$(CREATED):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $@

$(RUNTIME): pyproject.toml | $(CREATED)
	$(BIN)/pip install --quiet -e .
	touch $@

# The dev extra includes the bench extra: the test suite runs every benchmark contender once.
$(DEV): pyproject.toml | $(CREATED)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(BENCH): pyproject.toml | $(CREATED)
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

# Everything: the runtime and both extras.
install: $(RUNTIME) $(DEV) $(BENCH)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

$(TMUX_BIN):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y tmux \
		|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y tmux)

$(POSTGRES_DIR):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql \
		|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)

demo: $(RUNTIME)
	$(BIN)/python -m pipelines.demo

test: $(DEV) $(CHROMIUM) $(TMUX_BIN) $(POSTGRES_DIR) lint
	$(BIN)/pytest

# The README's picture of the asset graph, taken by the browser test after a run from the UI.
screenshot: $(DEV) $(CHROMIUM)
	QCW_SCREENSHOT_DIR=$(CURDIR)/docs $(BIN)/pytest tests/test_browser.py

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The sandbox prints the export line of its URL and credentials; this adds its speed settings.
sandbox: $(RUNTIME)
	@echo "In the shell that syncs (qcw sync, make dev, dg launch), export the"
	@echo "sandbox's URL and credentials (below) and the speed the sandbox can take:"
	@echo "  export $(SANDBOX_SPEED)"
	@$(BIN)/python -m pipelines.sandbox

# The UI through `dg dev` (dagster-dg-cli: Dagster 1.13's command line, which supersedes
# `dagster dev`), on the project's instance; prints the asset graph's URL once the UI answers
# (a watcher that ends with `dg dev`).
dev: $(RUNTIME)
	@echo "Runs read QC_* from this shell: for the sandbox, first export what \`make sandbox\` prints."
	@$(BIN)/python -c "$$ANNOUNCE_UI" $(PORT) "$(GRAPH_URL)" & \
		DAGSTER_HOME=$(CURDIR)/dagster_home $(BIN)/dg dev --host 127.0.0.1 --port $(PORT)

define ANNOUNCE_UI
import os, sys, time, urllib.request
port, url = sys.argv[1:]
parent = os.getppid()
while os.getppid() == parent:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as reply:
            if b"dagster_webserver_version" in reply.read():
                print(f"\nThe asset graph: {url}\n", flush=True)
                break
    except OSError:
        pass
    time.sleep(0.5)
endef
dev: export ANNOUNCE_UI := $(ANNOUNCE_UI)

# This pipeline against the download and parse floors, a naive script and dlt (benchmarks/);
# then the scale-out on a DuckLake (benchmarks/scale_out.py: 1, 2, 4 and 8 workers, readers
# during a sync, append-only against retries), on a throwaway PostgreSQL (Debian's server) and
# moto's S3 that it starts and stops itself.
BENCH_ARGS ?= --datasets small,medium --runs 3
SCALE_OUT_ARGS ?=
bench: $(BENCH) $(POSTGRES_DIR)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.scale_out $(SCALE_OUT_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
