# The README's two commands. Each does its own set-up on a fresh clone (python3 + make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
RTMLIB := rtmlib==0.0.16

.PHONY: install install-dev demo test down clean bench

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

demo: $(STAMP)
	$(BIN)/pevl demo configs/demo.yaml

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

BENCHES := synth decode poses shard_loader shard_memory train

bench: $(DEV_STAMP)
	for b in $(BENCHES); do $(BIN)/python -m benchmarks.bench_$$b || exit 1; done

down: $(STAMP)
	$(BIN)/pevl down

clean:
	rm -rf work .pevl
