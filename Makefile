# The README's two commands. Each does its own set-up on a fresh clone (python3 + make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
RTMLIB := rtmlib==0.0.16

.PHONY: install install-dev test-deps test-assets demo test down clean bench screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	# rtmlib's metadata pulls two extra OpenCV wheels that break cv2: install it alone.
	$(BIN)/pip install -q --no-deps $(RTMLIB)
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

# Telemetry off for the demo's own Prefect client too (the servers run with it off: pevl/services/servers.py).
demo: $(STAMP)
	DO_NOT_TRACK=1 $(BIN)/pevl demo configs/demo.yaml

# System programs the tests run for real, from Debian's packages where missing (root or sudo;
# nothing to do when present): PostgreSQL's server programs (initdb, pg_ctl) for
# tests/test_work_pool.py, iproute2 (`ip netns`) for test_dask_cluster.py and test_train_two_nodes.py.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_PACKAGES := $(shell ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
                   || echo postgresql) $(shell command -v ip >/dev/null || echo iproute2)
test-deps:
	@[ -z "$(strip $(TEST_PACKAGES))" ] || { \
	  command -v apt-get >/dev/null || { echo "install $(TEST_PACKAGES) to run the tests"; exit 1; }; \
	  echo "installing $(TEST_PACKAGES) (apt-get) for the tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq $(TEST_PACKAGES) >/dev/null 2>&1 \
	  || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(TEST_PACKAGES) >/dev/null; }; }

# Real pretrained pose models (BlazePose, from the mediapipe wheel) and real footage of people (sports2d's
# demo video), taken out of PyPI packages with pip, pinned by sha256, cached under ~/.cache/pevl.
test-assets: $(STAMP)
	$(BIN)/pevl models fetch blazepose
	$(BIN)/python -m tests.real_footage

test: $(DEV_STAMP) test-deps test-assets
	$(BIN)/python -m pytest

BENCHES := synth decode poses shard_loader shard_memory train

bench: $(DEV_STAMP)
	for b in $(BENCHES); do $(BIN)/python -m benchmarks.bench_$$b || exit 1; done

# Optional, after `make demo` (servers still up): PNGs of both UIs into docs/images/ (docs/ui.md).
# Needs Debian's chromium (`apt-get install -y chromium`); not part of `make test`.
screenshots: $(STAMP)
	@command -v chromium >/dev/null || { echo "screenshots need chromium: apt-get install -y chromium"; exit 1; }
	$(BIN)/python scripts/screenshots.py

down: $(STAMP)
	$(BIN)/pevl down

clean:
	rm -rf work .pevl
