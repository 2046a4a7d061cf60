# Two commands for a newcomer: `make demo` (quickstart training) and `make test`.
# Both create .venv and install torch 2.13.0 (CPU) first, then the package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
DEEPSPEED_SPEC ?= deepspeed==0.19.8

.PHONY: setup demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.setup-stamp: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	# DeepSpeed is a source package that must build against the torch above (no isolation);
	# the tests check the strategy it configures (running it needs CUDA)
	$(BIN)/pip install --quiet setuptools wheel
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet --no-build-isolation "$(DEEPSPEED_SPEC)"
	touch $@

setup: $(VENV)/.setup-stamp

# each demo starts over: ganlab refuses to start a fresh run in a folder that holds checkpoints
demo: setup
	rm -rf runs/quickstart
	$(BIN)/ganlab train --config configs/quickstart.yaml --run-dir runs/quickstart
	$(BIN)/ganlab report runs/quickstart

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs
