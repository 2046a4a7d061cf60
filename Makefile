# Two commands for a newcomer: `make demo` (quickstart training) and `make test`.
# Both create .venv and install torch 2.13.0 (CPU) first, then the package (on Lightning 2.x).
# `make test` also creates .venv-pl19 (the same with pytorch-lightning 1.9.5) and runs the
# engine, trainer, resume, CLI and EMA tests there, and the cross-line tests between the two.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
DEEPSPEED_SPEC ?= deepspeed==0.19.8
# the Lightning 1.x environment: pytorch-lightning 1.9 needs pkg_resources (setuptools < 81)
PL1_VENV ?= .venv-pl19
PL1_BIN := $(PL1_VENV)/bin
PL1_SPEC ?= pytorch-lightning==1.9.5
# what runs on Lightning 1.x: engine, trainer, checkpoint/resume, CLI quickstart and Ctrl-C,
# EMA swap, and the version tests (others on demand: make test-lightning1 PL1_TESTS=..., after
# .venv-pl19/bin/pip install -e ".[dev]" for their extras)
PL1_TESTS ?= tests/engine tests/test_trainer.py tests/test_cli.py tests/callbacks/test_ema.py \
	tests/test_lightning_versions.py

.PHONY: setup setup-lightning1 demo test test-lightning1 bench lint clean

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

$(PL1_BIN)/python:
	$(PYTHON) -m venv $(PL1_VENV)

$(PL1_VENV)/.setup-stamp: $(PL1_BIN)/python pyproject.toml
	$(PL1_BIN)/pip install --quiet --upgrade pip
	$(PL1_BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(PL1_BIN)/pip install --quiet "$(PL1_SPEC)" "setuptools<81"
	# the package's requirement admits 1.9.5, so pip keeps it; only what the 1.x tests use
	$(PL1_BIN)/pip install --quiet -e ".[report]" pytest hypothesis
	touch $@

setup-lightning1: $(PL1_VENV)/.setup-stamp

# the demo: train the quickstart, write its report, then super-resolve a bundled Landsat-8
# scene (a GeoTIFF) with the trained model into the report folder
DEMO_RUN ?= runs/quickstart
DEMO_SCENE ?= src/ganlab/sample_data/landsat8_scene/val/val_r1408_c1280.tif

# each demo starts over: ganlab refuses to start a fresh run in a folder that holds checkpoints
demo: setup
	rm -rf $(DEMO_RUN)
	$(BIN)/ganlab train --config configs/quickstart.yaml --run-dir $(DEMO_RUN)
	$(BIN)/ganlab report $(DEMO_RUN)
	$(BIN)/ganlab predict --checkpoint $(DEMO_RUN)/checkpoints/last.ckpt --input $(DEMO_SCENE) \
		--output $(DEMO_RUN)/report/scene_x4.tif

# the full suite on Lightning 2.x, then the 1.x subset; each names the other's Python for the
# tests that carry exports and checkpoints from one line to the other
test: setup setup-lightning1
	GANLAB_OTHER_LIGHTNING_PYTHON=$(PL1_BIN)/python $(BIN)/python -m pytest -q
	$(MAKE) test-lightning1

test-lightning1: setup setup-lightning1
	GANLAB_OTHER_LIGHTNING_PYTHON=$(BIN)/python $(PL1_BIN)/python -m pytest -q $(PL1_TESTS)

# the benchmark scripts (each prints JSON lines, also appended under benchmarks/results/), at
# sizes that keep the whole run under 15 minutes on a 2-core CPU, then one summary table;
# docs/performance.md records the latest figures and the machine they came from. Longer runs:
# `python benchmarks/quality.py --recipes` trains every shipped recipe for its budget
bench: setup
	$(BIN)/python benchmarks/step_overhead.py --steps 10 --warmup 2 --runs 3
	$(BIN)/python benchmarks/precision.py --steps 5 --warmup 1
	$(BIN)/python benchmarks/throughput.py --steps 3 --warmup 1
	$(BIN)/python benchmarks/quality.py --steps 100
	$(BIN)/python benchmarks/inference_scaling.py
	$(BIN)/python benchmarks/summary.py

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(PL1_VENV) runs
