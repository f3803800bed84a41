# Two commands on a fresh machine: `make train` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Exact pins: pip on this machine takes these from local disk; anything looser may pull a
# multi-GB CUDA build from the network.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# torch and gan-cli (what `make train` needs); then the test tools, plugins, reference metrics
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

# pip byte-compiles every file it installs (~11,500 here, most never imported): half of the
# install's time on a 2-core machine. With --no-compile Python compiles the modules a command
# imports on first use and caches them beside the source (~2,500; a few seconds, once), which
# needs bytecode writing on: an environment's PYTHONDONTWRITEBYTECODE would have every `gan`
# process compile torch anew (~3 s each), so it is not passed to the commands below.
PIP := $(BIN)/python -m pip install --quiet --no-compile
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install install-dev train test check docs lint tensorboard bench gpu-check clean

install: $(STAMP)
install-dev: $(DEV)

# gan-cli is built by the venv's own hatchling (pyproject's build backend; `editables` for the
# editable install), not in a fresh build environment per pip call: ~6 s less each time.
BUILD_DEPS := 'hatchling>=1.21' editables

# Reinstalled when the project's dependencies or this file (the pins) change.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) $(TORCH_PINS) $(BUILD_DEPS)
	$(PIP) --no-build-isolation -e .
	touch $@

$(DEV): $(STAMP)
	$(PIP) --no-build-isolation -e '.[dev]'
	touch $@

# the main job: plain `gan train` (the DCGAN on the embedded digits with its tuned settings,
# conf/tuned/dcgan/digits.yaml); overrides in ARGS="...", e.g. ARGS="model=mlp loss=hinge"
train: install
	$(BIN)/gan train $(ARGS)

# One pytest-xdist worker per core, each computing on one thread (tests/conftest.py); the
# learning tests (minutes each) go first, and tests are handed out one at a time to whichever
# worker is free (--maxschedchunk 1), so no worker ends up with the long ones in a row.
# TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= auto
test: install-dev
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxschedchunk 1 $(ARGS)

# The edit-test loop (under 2 minutes): every test but the learning runs and the end-to-end
# runs of the installed `gan` (markers `learning` and `e2e`, pyproject.toml).
check: install-dev
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not learning and not e2e" $(ARGS)

# The tables of README.md, docs/ and benchmarks/RESULTS.md from their results files (docs/results/)
docs: install
	$(BIN)/python -m gan_cli.results --write
	$(BIN)/python scripts/cpu_matrix.py table --write
	$(BIN)/python benchmarks/run.py --render

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

tensorboard: install
	$(BIN)/tensorboard --logdir outputs

bench: install
	$(BIN)/python benchmarks/run.py $(ARGS)

# On a machine with CUDA: the CUDA tests, then CUDA rows of `make bench` written into
# benchmarks/RESULTS.md (~12 min on an H200: the tests 94 s, each bench row 1-4 min; in a short
# lease run the two apart, the bench by `ARGS=--model M`). Without a GPU the tests skip with a
# reason and the bench says so.
# A GPU machine without a package registry (torch, hydra and gan-cli already installed there):
#   make -o install-dev gpu-check BIN=<the folder of that python>
gpu-check: install-dev
	$(BIN)/python -m pytest -q -rs -m cuda tests/
	$(BIN)/python benchmarks/run.py --gpu-check $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
