# Two commands on a fresh machine: `make train` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Exact pins: pip on this machine takes these from local disk; anything looser may pull a
# multi-GB CUDA build from the network.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed

.PHONY: install train test lint tensorboard bench clean

install: $(STAMP)

# Reinstalled when the project's dependencies or this file (the pins) change.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

train: install  ## the main job: `gan train` on the embedded digits data set (pass ARGS="...")
	$(BIN)/gan train $(ARGS)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

tensorboard: install
	$(BIN)/tensorboard --logdir outputs

bench: install
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
